"""One package per Lambda. Glue only: parse, call the core in `likeness`, shape the response."""
