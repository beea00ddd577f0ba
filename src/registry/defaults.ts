// Defaults shared by the library and the CLI's help text; kept free of imports so --help stays fast.

/** Concurrent blob downloads per pull. */
export const DEFAULT_JOBS = 4;
