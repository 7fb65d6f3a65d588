import { createLambdaHandler } from '../lib/http/lambda-handler';

export const handler = createLambdaHandler('describeTerms');
