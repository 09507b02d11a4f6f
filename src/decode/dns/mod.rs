//! dns (filled in by its parser).
