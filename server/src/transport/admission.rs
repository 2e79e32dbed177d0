//! Connection admission (spec §11): the global and per-address connection
//! limits. A permit is taken when a socket is accepted and given back when
//! its task ends (on drop), so counts cannot leak. Knows nothing of the
//! protocol beyond which `BYE` reason a refusal gets.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tagarela_parser::ByeReason;

/// Counts open connections, globally and per remote address.
#[derive(Debug)]
pub struct Admission {
    max_total: usize,
    max_per_address: usize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// Held for the life of one admitted connection.
#[derive(Debug)]
pub struct Permit {
    admission: Arc<Admission>,
    addr: IpAddr,
}

impl Admission {
    /// Limits as configured.
    pub fn new(max_total: usize, max_per_address: usize) -> Arc<Self> {
        Arc::new(Admission {
            max_total,
            max_per_address,
            counts: Mutex::default(),
        })
    }

    /// Admits a connection from `addr`, or says which limit refuses it.
    pub fn admit(self: &Arc<Self>, addr: IpAddr) -> Result<Permit, ByeReason> {
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if c.total >= self.max_total {
            return Err(ByeReason::ServerFull);
        }
        let here = c.per_address.entry(addr).or_insert(0);
        if *here >= self.max_per_address {
            return Err(ByeReason::AddressLimit);
        }
        *here += 1;
        c.total += 1;
        Ok(Permit {
            admission: Arc::clone(self),
            addr,
        })
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut c = self
            .admission
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_address.get_mut(&self.addr) {
            *n -= 1;
            if *n == 0 {
                c.per_address.remove(&self.addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_release() {
        let a = Admission::new(3, 2);
        let x: IpAddr = [127, 0, 0, 1].into();
        let y: IpAddr = [127, 0, 0, 2].into();
        let p1 = a.admit(x).unwrap();
        let _p2 = a.admit(x).unwrap();
        assert_eq!(a.admit(x).unwrap_err(), ByeReason::AddressLimit);
        let _p3 = a.admit(y).unwrap();
        assert_eq!(a.admit(y).unwrap_err(), ByeReason::ServerFull);
        drop(p1);
        assert_eq!(a.open_connections(), 2);
        assert!(a.admit(x).is_ok());
    }
}
