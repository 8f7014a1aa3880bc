#![no_main]
//! Whatever bytes a client sends, the decoder answers Ok or a typed error, never
//! panics, and what it accepts survives a round trip.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match aula_proto::decode_client(data) {
        Ok(msg) => {
            let again = serde_json::to_vec(&msg).expect("a decoded message re-encodes");
            let back = aula_proto::decode_client(&again).expect("a re-encoded message decodes");
            // f64 NaN never gets here (validate refuses it), so equality holds.
            assert_eq!(back, msg);
        }
        Err(e) => {
            let _ = e.code();
        }
    }
});
