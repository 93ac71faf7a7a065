//! What the XML-RPC bridge and the event-listener adapter share:
//! supervisord's fault codes and process names.

pub mod faults;
pub mod names;
