//! ssh (filled in by its parser).
