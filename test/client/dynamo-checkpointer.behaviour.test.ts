import { createTestTable } from '../support/dynamo';
import { BEHAVIOUR_TERMS, describeCheckpointerBehaviour, newBehaviourClock } from './checkpointer-behaviour';

describeCheckpointerBehaviour('DynamoCheckpointer', async () => {
  const clock = newBehaviourClock();
  const table = await createTestTable('behaviour-direct', { clock, ...BEHAVIOUR_TERMS });
  return {
    checkpointer: table.checkpointer,
    clock,
    tableName: table.tableName,
    close: async () => table.io.client.destroy(),
  };
});
