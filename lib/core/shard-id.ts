/**
 * 1..128 of [a-zA-Z0-9_.-], but not `.` or `..`: URL normalisation (fetch, API Gateway) folds those
 * path segments away, so no HTTP caller could ever address such a shard.
 */
export const SHARD_ID_PATTERN = /^(?!\.\.?$)[a-zA-Z0-9_.-]{1,128}$/;
/** 1..256 characters, none of them control, format, private-use or unassigned code points. */
export const WORKER_ID_PATTERN = /^\P{C}{1,256}$/u;
