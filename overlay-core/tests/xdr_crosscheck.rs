//! placeholder
use stellar_xdr::{Limits, StellarMessage, WriteXdr};
#[test]
fn placeholder() {
    let _ = StellarMessage::default().to_xdr(Limits::none());
}
