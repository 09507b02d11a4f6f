//! tls (filled in by its parser).
