//! A local simulator of the API (issue 3: not built yet).
