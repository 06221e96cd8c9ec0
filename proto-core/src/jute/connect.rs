//! The handshake records (reference sections 2.1, 2.2). Neither has a header.

use super::error::{DecodeError, EncodeError};
use super::wire::{Reader, Writer};
use super::{Decode, Encode};
use crate::ids::SessionId;

/// Bytes of a session password.
pub const PASSWORD_LEN: usize = 16;

/// The client's first frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectRequest<'a> {
    /// Clients send 0; servers ignore it.
    pub protocol_version: i32,
    /// Highest zxid the client has seen, as a wire long (0 for a new client).
    pub last_zxid_seen: i64,
    /// Requested session timeout in ms.
    pub timeout_ms: i32,
    /// 0 for a new session, else the session to resume.
    pub session_id: SessionId,
    /// Session password (16 bytes on reconnect); a null buffer reads as empty, which no
    /// password matches, as in ZooKeeper.
    pub passwd: &'a [u8],
    /// The optional trailing readOnly byte; `None` for an old client that omits it.
    pub read_only: Option<bool>,
}

/// The server's first frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectResponse<'a> {
    /// Always 0.
    pub protocol_version: i32,
    /// Negotiated timeout in ms; 0 when the session is invalid.
    pub timeout_ms: i32,
    /// The session; 0 when invalid.
    pub session_id: SessionId,
    /// Session password (16 zero bytes when invalid); null reads as empty.
    pub passwd: &'a [u8],
    /// Written only when `Some`, i.e. when the request carried its readOnly byte.
    pub read_only: Option<bool>,
}

impl ConnectResponse<'static> {
    /// The reply to a reconnect with an unknown session or a wrong password; the client
    /// then reports Expired.
    pub const fn invalid(read_only: Option<bool>) -> ConnectResponse<'static> {
        ConnectResponse {
            protocol_version: 0,
            timeout_ms: 0,
            session_id: SessionId(0),
            passwd: &[0; PASSWORD_LEN],
            read_only,
        }
    }
}

/// Reads the trailing readOnly byte if there is one (ZooKeeper treats EOF as an old client).
fn read_optional_bool(r: &mut Reader<'_>, field: &'static str) -> Result<Option<bool>, DecodeError> {
    if r.remaining() == 0 {
        return Ok(None);
    }
    r.read_bool(field).map(Some)
}

impl<'a> Decode<'a> for ConnectRequest<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(ConnectRequest {
            protocol_version: r.read_i32("ConnectRequest.protocolVersion")?,
            last_zxid_seen: r.read_i64("ConnectRequest.lastZxidSeen")?,
            timeout_ms: r.read_i32("ConnectRequest.timeOut")?,
            session_id: SessionId(r.read_i64("ConnectRequest.sessionId")?),
            passwd: r.read_buffer("ConnectRequest.passwd")?.unwrap_or(&[]),
            read_only: read_optional_bool(r, "ConnectRequest.readOnly")?,
        })
    }
}

impl Encode for ConnectRequest<'_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_i32(self.protocol_version)?;
        w.write_i64(self.last_zxid_seen)?;
        w.write_i32(self.timeout_ms)?;
        w.write_i64(self.session_id.0)?;
        w.write_buffer(Some(self.passwd))?;
        match self.read_only {
            Some(ro) => w.write_bool(ro),
            None => Ok(()),
        }
    }
}

impl<'a> Decode<'a> for ConnectResponse<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(ConnectResponse {
            protocol_version: r.read_i32("ConnectResponse.protocolVersion")?,
            timeout_ms: r.read_i32("ConnectResponse.timeOut")?,
            session_id: SessionId(r.read_i64("ConnectResponse.sessionId")?),
            passwd: r.read_buffer("ConnectResponse.passwd")?.unwrap_or(&[]),
            read_only: read_optional_bool(r, "ConnectResponse.readOnly")?,
        })
    }
}

impl Encode for ConnectResponse<'_> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.write_i32(self.protocol_version)?;
        w.write_i32(self.timeout_ms)?;
        w.write_i64(self.session_id.0)?;
        w.write_buffer(Some(self.passwd))?;
        match self.read_only {
            Some(ro) => w.write_bool(ro),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::testing::{decode_all, encode_vec, short_buffers_fail, truncations_fail};
    use proptest::prelude::*;

    const PW: [u8; 16] = [7; 16];

    #[rustfmt::skip]
    const REQUEST: [u8; 45] = [
        0, 0, 0, 0,                         // protocolVersion
        0, 0, 0, 0, 0, 0, 0, 0x10,          // lastZxidSeen
        0, 0, 0x75, 0x30,                   // timeOut 30000
        0x01, 0, 0, 0, 0, 0, 0, 0x2a,       // sessionId
        0, 0, 0, 16, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
        1,                                  // readOnly
    ];

    #[test]
    fn connect_request_both_ways() {
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0x10,
            timeout_ms: 30_000,
            session_id: SessionId(0x0100_0000_0000_002a),
            passwd: &PW,
            read_only: Some(true),
        };
        assert_eq!(encode_vec(&req), REQUEST);
        assert_eq!(decode_all::<ConnectRequest>(&REQUEST), Ok(req));
        short_buffers_fail(&req, REQUEST.len());
        // Without the trailing byte: an old client.
        let old = ConnectRequest { read_only: None, ..req };
        assert_eq!(decode_all::<ConnectRequest>(&REQUEST[..44]), Ok(old));
        assert_eq!(encode_vec(&old), REQUEST[..44]);
        truncations_fail::<ConnectRequest>(&REQUEST[..44]);
        // Any non-zero readOnly byte is true; bytes after it are ignored.
        let mut odd = REQUEST;
        odd[44] = 0x80;
        assert_eq!(ConnectRequest::decode_from(&odd).map(|c| c.read_only), Ok(Some(true)));
    }

    #[test]
    fn connect_request_null_password_reads_empty() {
        let mut bytes = REQUEST;
        bytes[24..28].copy_from_slice(&[0xff; 4]);
        let req = ConnectRequest::decode_from(&bytes[..28]).unwrap();
        assert_eq!(req.passwd, b"");
        assert_eq!(req.read_only, None);
    }

    #[rustfmt::skip]
    const RESPONSE: [u8; 37] = [
        0, 0, 0, 0,
        0, 0, 0x27, 0x10,                   // timeOut 10000
        0x01, 0, 0, 0, 0, 0, 0, 0x2a,
        0, 0, 0, 16, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
        0,
    ];

    #[test]
    fn connect_response_both_ways() {
        let resp = ConnectResponse {
            protocol_version: 0,
            timeout_ms: 10_000,
            session_id: SessionId(0x0100_0000_0000_002a),
            passwd: &PW,
            read_only: Some(false),
        };
        assert_eq!(encode_vec(&resp), RESPONSE);
        assert_eq!(decode_all::<ConnectResponse>(&RESPONSE), Ok(resp));
        let old = ConnectResponse { read_only: None, ..resp };
        assert_eq!(encode_vec(&old), RESPONSE[..36], "readOnly is written only when asked");
        truncations_fail::<ConnectResponse>(&RESPONSE[..36]);
        let invalid = encode_vec(&ConnectResponse::invalid(None));
        assert_eq!(invalid.len(), 36);
        assert!(invalid[..16].iter().all(|&b| b == 0) && invalid[20..].iter().all(|&b| b == 0));
    }

    proptest! {
        #![proptest_config(crate::jute::testing::proptest_config())]
        #[test]
        fn arbitrary_connect_requests_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            if let Ok(req) = ConnectRequest::decode_from(&bytes) {
                // A decoded request is at least the 28 fixed bytes plus its password.
                prop_assert!(bytes.len() >= 28 + req.passwd.len());
            }
            let _ = ConnectResponse::decode_from(&bytes);
        }
    }
}
