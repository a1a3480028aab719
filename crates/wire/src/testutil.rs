//! Hand-built test vectors: packet and capture-file builders (tests only).

pub fn csum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// IPv4 header (+ options) + payload. `frag` is the raw flags/offset word.
pub fn ipv4(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    id: u16,
    frag: u16,
    opts: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    assert_eq!(opts.len() % 4, 0);
    let hl = 20 + opts.len();
    let total = (hl + payload.len()) as u16;
    let mut v = vec![0x40 | (hl / 4) as u8, 0];
    v.extend_from_slice(&total.to_be_bytes());
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&frag.to_be_bytes());
    v.extend_from_slice(&[64, proto, 0, 0]);
    v.extend_from_slice(&src);
    v.extend_from_slice(&dst);
    v.extend_from_slice(opts);
    let c = csum(&v);
    v[10..12].copy_from_slice(&c.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

pub const V6A: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
pub const V6B: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// IPv6 header; `rest` = extension headers + transport.
pub fn ipv6(next: u8, rest: &[u8]) -> Vec<u8> {
    let mut v = vec![0x60, 0, 0, 0];
    v.extend_from_slice(&(rest.len() as u16).to_be_bytes());
    v.extend_from_slice(&[next, 55]);
    v.extend_from_slice(&V6A);
    v.extend_from_slice(&V6B);
    v.extend_from_slice(rest);
    v
}

/// A generic IPv6 extension header (hop-by-hop, routing, dest opts) of
/// `8 * (len_units + 1)` bytes.
pub fn ext(next: u8, len_units: u8) -> Vec<u8> {
    let mut v = vec![next, len_units];
    v.resize(8 * (usize::from(len_units) + 1), 0);
    v
}

pub fn tcp(sp: u16, dp: u16, seq: u32, flags: u8, opts: &[u8], payload: &[u8]) -> Vec<u8> {
    assert_eq!(opts.len() % 4, 0);
    let mut v = Vec::new();
    v.extend_from_slice(&sp.to_be_bytes());
    v.extend_from_slice(&dp.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&7u32.to_be_bytes());
    v.push((((20 + opts.len()) / 4) as u8) << 4);
    v.push(flags);
    v.extend_from_slice(&8192u16.to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 0]);
    v.extend_from_slice(opts);
    v.extend_from_slice(payload);
    v
}

pub fn udp(sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&sp.to_be_bytes());
    v.extend_from_slice(&dp.to_be_bytes());
    v.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(payload);
    v
}

pub fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    v.extend_from_slice(&ethertype.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// A simple IPv4/TCP packet 10.0.0.1:1234 -> 10.0.0.2:80 with `payload`.
pub fn v4_tcp(payload: &[u8]) -> Vec<u8> {
    ipv4(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        6,
        1,
        0x4000,
        &[],
        &tcp(1234, 80, 1000, 0x18, &[], payload),
    )
}

fn w16(v: &mut Vec<u8>, x: u16, big: bool) {
    v.extend_from_slice(&if big {
        x.to_be_bytes()
    } else {
        x.to_le_bytes()
    });
}
fn w32(v: &mut Vec<u8>, x: u32, big: bool) {
    v.extend_from_slice(&if big {
        x.to_be_bytes()
    } else {
        x.to_le_bytes()
    });
}

/// A legacy pcap file. Records: (secs, frac, data, orig_len).
pub fn pcap(
    big: bool,
    nanos: bool,
    link: u32,
    snaplen: u32,
    recs: &[(u32, u32, &[u8], u32)],
) -> Vec<u8> {
    let mut v = Vec::new();
    w32(&mut v, if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }, big);
    w16(&mut v, 2, big);
    w16(&mut v, 4, big);
    w32(&mut v, 0, big);
    w32(&mut v, 0, big);
    w32(&mut v, snaplen, big);
    w32(&mut v, link, big);
    for (s, f, d, o) in recs {
        w32(&mut v, *s, big);
        w32(&mut v, *f, big);
        w32(&mut v, d.len() as u32, big);
        w32(&mut v, *o, big);
        v.extend_from_slice(d);
    }
    v
}

/// pcapng writer.
pub struct Ng {
    pub buf: Vec<u8>,
    pub big: bool,
}

impl Ng {
    pub fn new(big: bool) -> Ng {
        let mut n = Ng {
            buf: Vec::new(),
            big,
        };
        n.shb();
        n
    }

    pub fn block(&mut self, btype: u32, body: &[u8]) -> &mut Self {
        let big = self.big;
        let padded = (body.len() + 3) & !3;
        let len = (12 + padded) as u32;
        w32(&mut self.buf, btype, big);
        w32(&mut self.buf, len, big);
        self.buf.extend_from_slice(body);
        self.buf.resize(self.buf.len() + padded - body.len(), 0);
        w32(&mut self.buf, len, big);
        self
    }

    pub fn shb(&mut self) -> &mut Self {
        let big = self.big;
        let mut b = Vec::new();
        w32(&mut b, 0x1a2b_3c4d, big);
        w16(&mut b, 1, big);
        w16(&mut b, 0, big);
        b.extend_from_slice(&[0xff; 8]);
        self.block(0x0a0d_0d0a, &b)
    }

    /// IDB with optional tsresol / tsoffset options.
    pub fn idb(
        &mut self,
        link: u16,
        snaplen: u32,
        tsresol: Option<u8>,
        tsoffset: Option<i64>,
    ) -> &mut Self {
        let big = self.big;
        let mut b = Vec::new();
        w16(&mut b, link, big);
        w16(&mut b, 0, big);
        w32(&mut b, snaplen, big);
        // A name option first, to exercise the option walk.
        w16(&mut b, 2, big);
        w16(&mut b, 3, big);
        b.extend_from_slice(b"et0\0");
        if let Some(r) = tsresol {
            w16(&mut b, 9, big);
            w16(&mut b, 1, big);
            b.extend_from_slice(&[r, 0, 0, 0]);
        }
        if let Some(o) = tsoffset {
            w16(&mut b, 14, big);
            w16(&mut b, 8, big);
            b.extend_from_slice(&if big {
                o.to_be_bytes()
            } else {
                o.to_le_bytes()
            });
        }
        w16(&mut b, 0, big);
        w16(&mut b, 0, big);
        self.block(1, &b)
    }

    pub fn epb(&mut self, if_id: u32, ts: u64, data: &[u8], orig: u32) -> &mut Self {
        let big = self.big;
        let mut b = Vec::new();
        w32(&mut b, if_id, big);
        w32(&mut b, (ts >> 32) as u32, big);
        w32(&mut b, ts as u32, big);
        w32(&mut b, data.len() as u32, big);
        w32(&mut b, orig, big);
        b.extend_from_slice(data);
        b.resize((b.len() + 3) & !3, 0);
        // An opt_comment, then end of options.
        w16(&mut b, 1, big);
        w16(&mut b, 2, big);
        b.extend_from_slice(b"hi\0\0");
        w16(&mut b, 0, big);
        w16(&mut b, 0, big);
        self.block(6, &b)
    }

    pub fn opb(&mut self, if_id: u16, ts: u64, data: &[u8], orig: u32) -> &mut Self {
        let big = self.big;
        let mut b = Vec::new();
        w16(&mut b, if_id, big);
        w16(&mut b, 0, big);
        w32(&mut b, (ts >> 32) as u32, big);
        w32(&mut b, ts as u32, big);
        w32(&mut b, data.len() as u32, big);
        w32(&mut b, orig, big);
        b.extend_from_slice(data);
        self.block(2, &b)
    }

    pub fn spb(&mut self, data: &[u8], orig: u32) -> &mut Self {
        let big = self.big;
        let mut b = Vec::new();
        w32(&mut b, orig, big);
        b.extend_from_slice(data);
        self.block(3, &b)
    }
}
