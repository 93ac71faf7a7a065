//! Tests of the config loader: what users write and what they read back.

use super::*;
