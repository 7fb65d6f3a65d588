/** One part of `npm run bench`'s report: a titled table, printed as markdown for the README. */
export interface BenchSection {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly (string | number)[])[];
  /** Lines printed under the table: what was measured and how to read it. */
  readonly notes?: readonly string[];
}

export interface BenchContext {
  /** A dynalite endpoint in its own process, so the server's CPU is not charged to the code measured. */
  readonly dynamoEndpoint: string;
}
