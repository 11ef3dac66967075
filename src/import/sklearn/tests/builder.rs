//! Hand-assembles pickle opcode streams.

/// A pickle under construction.
pub struct P(pub Vec<u8>);

impl P {
    /// Starts with `PROTO n` (protocol ≥ 2) or nothing (protocol 0/1).
    pub fn new(protocol: u8) -> P {
        if protocol >= 2 {
            P(vec![0x80, protocol])
        } else {
            P(Vec::new())
        }
    }

    pub fn op(mut self, code: u8) -> P {
        self.0.push(code);
        self
    }

    pub fn raw(mut self, bytes: &[u8]) -> P {
        self.0.extend_from_slice(bytes);
        self
    }

    /// `GLOBAL module\nname\n`.
    pub fn global(self, module: &str, name: &str) -> P {
        self.op(b'c').raw(format!("{module}\n{name}\n").as_bytes())
    }

    /// `SHORT_BINUNICODE`.
    pub fn str(self, s: &str) -> P {
        assert!(s.len() < 256);
        self.op(0x8c).raw(&[s.len() as u8]).raw(s.as_bytes())
    }

    /// module and name strings, then `STACK_GLOBAL`.
    pub fn stack_global(self, module: &str, name: &str) -> P {
        self.str(module).str(name).op(0x93)
    }

    /// `BININT`.
    pub fn int(self, i: i32) -> P {
        self.op(b'J').raw(&i.to_le_bytes())
    }

    /// `SHORT_BINBYTES` / `BINBYTES`.
    pub fn bytes(self, b: &[u8]) -> P {
        if b.len() < 256 {
            self.op(b'C').raw(&[b.len() as u8]).raw(b)
        } else {
            self.op(b'B').raw(&(b.len() as u32).to_le_bytes()).raw(b)
        }
    }

    /// `BINPUT i`.
    pub fn put(self, i: u8) -> P {
        self.op(b'q').raw(&[i])
    }

    /// `BINGET i`.
    pub fn get(self, i: u8) -> P {
        self.op(b'h').raw(&[i])
    }

    /// Appends `STOP` and returns the bytes.
    pub fn stop(self) -> Vec<u8> {
        self.op(b'.').0
    }
}
