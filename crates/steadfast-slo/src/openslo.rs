//! OpenSLO.
