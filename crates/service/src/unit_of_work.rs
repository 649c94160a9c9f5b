//! The unit of work: a change and the messages it causes, committed as one.

use latchkey_store::{StoreError, Write};

use crate::context::Ctx;

impl Ctx {
    /// Applies writes in one transaction, then wakes this node's mail worker.
    pub(crate) async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let sends_mail = writes.iter().any(|w| matches!(w, Write::Enqueue(_)));
        let changed: Vec<_> = writes.iter().filter_map(Write::changes_user).collect();
        let result = self.store.apply(writes, self.clock.now()).await;
        // Forgotten whether or not the unit committed: cheap, and certain.
        for user in changed {
            self.session_cache.forget_user(user);
        }
        result?;
        if sends_mail {
            self.mailer.queued.notify_one();
        }
        Ok(())
    }
}
