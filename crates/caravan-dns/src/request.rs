//! Reading a query off the wire, and sorting out what does not deserve an answer.

use hickory_proto::op::{
    Edns, Header, Message, MessageType, Metadata, OpCode, Query, ResponseCode,
};
use hickory_proto::rr::DNSClass;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

/// A query the resolver answers: one question, in class IN (or ANY).
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub metadata: Metadata,
    pub query: Query,
    pub edns: Option<Edns>,
}

/// What a packet turned out to be.
#[derive(Debug)]
pub(crate) enum Parsed {
    Query(Request),
    /// Not answered: too short to carry an id, or a response (answering responses is
    /// how two servers end up in a loop).
    Drop,
    /// Answered with `code` and no records.
    Error {
        metadata: Metadata,
        query: Option<Query>,
        edns: Option<Edns>,
        code: ResponseCode,
    },
}

impl Parsed {
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let Ok(header) = Header::read(&mut BinDecoder::new(bytes)) else {
            return Self::Drop;
        };
        let metadata = header.metadata;
        if metadata.message_type == MessageType::Response {
            return Self::Drop;
        }
        let error = |query: Option<Query>, edns: Option<Edns>, code| Self::Error {
            metadata,
            query,
            edns,
            code,
        };
        // Other opcodes are refused before their body is read: NOTIFY and UPDATE have
        // nothing to do with a read-only catalog.
        if metadata.op_code != OpCode::Query {
            return error(None, None, ResponseCode::NotImp);
        }
        let mut message = match Message::from_vec(bytes) {
            Ok(message) => message,
            Err(_) => return error(None, None, ResponseCode::FormErr),
        };
        let edns = message.edns.take();
        if message.queries.len() != 1 || !message.answers.is_empty() {
            return error(None, edns, ResponseCode::FormErr);
        }
        let Some(query) = message.queries.pop() else {
            return error(None, edns, ResponseCode::FormErr);
        };
        if edns.as_ref().is_some_and(|e| e.version() > 0) {
            return error(Some(query), edns, ResponseCode::BADVERS);
        }
        if !matches!(query.query_class(), DNSClass::IN | DNSClass::ANY) {
            return error(Some(query), edns, ResponseCode::Refused);
        }
        Self::Query(Request {
            metadata,
            query,
            edns,
        })
    }
}
