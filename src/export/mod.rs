//! Exports: csv/tsv, json, jsonl, word-level aggregation; atomic file writes.
//! TODO(cli helper): implement.
