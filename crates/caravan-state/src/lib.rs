//! Caravan state store (issue 3).
