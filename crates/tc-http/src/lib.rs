//! The transport over reqwest (issue 3: not built yet).
