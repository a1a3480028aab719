//! Every limit of mail analysis, in one place.

/// Caps applied to every message. Hitting one is a per-message error
/// (the message still gets its row, with `error` saying which cap and
/// where); the rest of the batch goes on.
#[derive(Clone, Debug)]
pub struct MailConfig {
    /// Largest message analysed, in bytes. Larger ones are read only up to
    /// this size (the rest is skipped without being held in memory) and
    /// fail with `message_too_large`. Default 32 MiB.
    pub max_message_bytes: usize,
    /// Largest header section (top-level headers) in bytes. Default 256 KiB.
    pub max_header_bytes: usize,
    /// Longest line anywhere in the message, in bytes. Default 1 MiB
    /// (base64 lines are 76 bytes; HTML spam sometimes runs to tens of KiB).
    pub max_line_bytes: usize,
    /// Deepest MIME nesting (multipart inside multipart, attached
    /// messages). Default 20.
    pub max_depth: usize,
    /// Most MIME parts in one message. Default 500.
    pub max_parts: usize,
    /// Bytes of decoded text looked at for categories, brands, campaigns
    /// and URLs (per message). Default 64 KiB.
    pub max_text_bytes: usize,
    /// Most URLs kept per message. Default 100.
    pub max_urls: usize,
    /// Decode binary attachments while parsing. No feature reads their
    /// content (only their names, types and place in the MIME tree), so
    /// by default the base64 content of a part whose type is neither text,
    /// multipart nor message is left out before parsing: same features,
    /// less work. `true` parses every message whole (for comparison).
    pub decode_attachments: bool,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            max_message_bytes: 32 << 20,
            max_header_bytes: 256 << 10,
            max_line_bytes: 1 << 20,
            max_depth: 20,
            max_parts: 500,
            max_text_bytes: 64 << 10,
            max_urls: 100,
            decode_attachments: false,
        }
    }
}
