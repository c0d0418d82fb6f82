//! ISR changes: what a partition's leader proposes (a follower caught up, or one lagged too
//! long), committed to the metadata as a new state of the partition.
//!
//! Leaders propose from request handlers (a follower's fetch) and from the periodic tick;
//! the proposals queue up and the metadata follower thread commits them, so that no handler
//! waits for the quorum. Each commit is a compare-and-set: the record carries the partition
//! epoch after the one the proposal was made at, so a proposal made from a state the
//! controller has since changed is refused on every node, and the leader learns the newer
//! state from the metadata instead. A commit that fails for any other reason lets the
//! leader propose again.

use std::sync::{Arc, PoisonError};

use streambus_metadata::{MetadataRecord, PartitionImage};
use streambus_replication::Partition;
use streambus_replication::state::IsrProposal;

use crate::Broker;

impl Broker {
    /// Queues an ISR change that `partition`'s leadership proposes.
    pub(crate) fn propose_isr(&self, partition: &Arc<Partition>, proposal: IsrProposal) {
        self.isr_proposals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((Arc::clone(partition), proposal));
    }

    /// Lets led partitions check their followers' lag, then commits every queued ISR
    /// change; returns whether any was committed (the caller then re-hosts partitions so
    /// that the leaders take the new ISR up at once).
    pub(crate) fn commit_isr_changes(&self) -> bool {
        for (partition, proposal) in self.replicas.tick() {
            self.propose_isr(&partition, proposal);
        }
        let queued = std::mem::take(
            &mut *self
                .isr_proposals
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let mut committed = false;
        for (partition, proposal) in queued {
            if self.is_closing() {
                // Each commit may wait out the quorum's timeout; a stopping node drops them.
                break;
            }
            match self.isr_record(&partition, &proposal) {
                Some(record) => match self.metadata.commit(vec![record]) {
                    Ok(_) => {
                        tracing::info!(partition = %partition.topic_partition(), isr = ?proposal.new_isr, "changed the ISR");
                        committed = true;
                    }
                    Err(e) => {
                        tracing::debug!(partition = %partition.topic_partition(), error = %e, "ISR change not committed");
                        partition.isr_change_failed(&proposal);
                        if !matches!(e, streambus_metadata::CommitError::Rejected { .. }) {
                            // The quorum did not answer: the rest would wait as long.
                            break;
                        }
                    }
                },
                None => partition.isr_change_failed(&proposal),
            }
        }
        committed
    }

    /// The record of `proposal`, or `None` if the image no longer has this broker lead the
    /// partition at the proposal's epochs.
    fn isr_record(&self, partition: &Partition, proposal: &IsrProposal) -> Option<MetadataRecord> {
        let tp = partition.topic_partition();
        let image = self.image();
        let topic = image.topic(&tp.topic)?;
        let current = image.partition(&tp.topic, tp.partition)?;
        let current_state = current.leader == self.config.node_id
            && current.leader_epoch == proposal.leader_epoch
            && current.partition_epoch == proposal.partition_epoch;
        current_state.then(|| {
            PartitionImage {
                isr: proposal.new_isr.clone(),
                partition_epoch: current.partition_epoch + 1,
                ..current.clone()
            }
            .record(topic.id)
        })
    }
}
