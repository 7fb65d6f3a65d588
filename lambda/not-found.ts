import { handleUnmatched } from '../lib/http/unmatched';

export const handler = handleUnmatched;
