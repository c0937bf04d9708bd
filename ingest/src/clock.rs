//! The consumer's clock: reading the time costs more than handling a message on some machines,
//! so the consumer reads it now and then (see [`Clock`]).

use std::cell::Cell;

/// Reading the clock costs more than handling a message on some machines, so the time (for
/// dedupe and the batch interval) is read every [`CLOCK_EVERY`] messages, and whenever the
/// consumer loop comes round without a new message (idle, or between rare events).
#[derive(Debug)]
pub(crate) struct Clock {
    handled: u64,
    handled_at_last_look: Cell<u64>,
    handled_at_last_read: Cell<u64>,
    now_secs: Cell<i64>,
}

/// See [`Clock`].
const CLOCK_EVERY: u64 = 64;

fn epoch_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self {
            handled: 0,
            handled_at_last_look: Cell::new(0),
            handled_at_last_read: Cell::new(0),
            now_secs: Cell::new(epoch_secs()),
        }
    }

    /// Counts a handled message.
    pub(crate) fn tick(&mut self) {
        self.handled += 1;
    }

    /// Whether time-based decisions should be made now; if so, the clock was just read.
    pub(crate) fn look(&self) -> bool {
        let idle = self.handled_at_last_look.replace(self.handled) == self.handled;
        let look = idle || self.handled - self.handled_at_last_read.get() >= CLOCK_EVERY;
        if look {
            self.handled_at_last_read.set(self.handled);
            self.now_secs.set(epoch_secs());
        }
        look
    }

    /// Epoch seconds as of the last read.
    pub(crate) fn now_secs(&self) -> i64 {
        self.now_secs.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The last partial batch must still be sent on time once messages stop coming.
    #[test]
    fn the_clock_is_read_every_64_messages_and_whenever_idle() {
        let mut clock = Clock::new();
        let mut looks = Vec::new();
        for n in 1..=200u64 {
            clock.tick();
            if clock.look() {
                looks.push(n);
            }
        }
        assert_eq!(looks, [64, 128, 192]);
        // No new message since the last call: idle, so look (every time).
        assert!(clock.look());
        assert!(clock.look());
        clock.tick();
        assert!(!clock.look());
        assert!(clock.look());
    }
}
