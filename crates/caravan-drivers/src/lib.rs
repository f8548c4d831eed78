//! Caravan task drivers (issue 3).
