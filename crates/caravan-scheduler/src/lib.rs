//! Caravan scheduler (issue 3).
