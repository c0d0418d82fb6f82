//! Reading the topics out of a `consumer` protocol subscription.
//!
//! The group needs the subscribed topics for OffsetDelete (`GROUP_SUBSCRIBED_TO_TOPIC`) and
//! for expiring offsets of topics a stable group no longer consumes. Only the prefix common to
//! all ConsumerProtocolSubscription versions is read: `version: i16`, `topics: [string]`.

/// The topics in a ConsumerProtocolSubscription, or `None` if the bytes are not one.
pub fn subscribed_topics(metadata: &[u8]) -> Option<Vec<String>> {
    let mut rest = metadata;
    let _version = i16::from_be_bytes(take::<2>(&mut rest)?);
    let count = i32::from_be_bytes(take::<4>(&mut rest)?);
    let count = usize::try_from(count).ok()?;
    // Each topic needs at least its two length bytes, so a huge count fails before allocating.
    if count > rest.len() / 2 {
        return None;
    }
    let mut topics = Vec::with_capacity(count);
    for _ in 0..count {
        let len = usize::try_from(i16::from_be_bytes(take::<2>(&mut rest)?)).ok()?;
        if rest.len() < len {
            return None;
        }
        let (name, tail) = rest.split_at(len);
        topics.push(String::from_utf8(name.to_vec()).ok()?);
        rest = tail;
    }
    Some(topics)
}

fn take<const N: usize>(rest: &mut &[u8]) -> Option<[u8; N]> {
    if rest.len() < N {
        return None;
    }
    let (head, tail) = rest.split_at(N);
    *rest = tail;
    head.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes a v0 subscription, the way the Java client does.
    pub(crate) fn encode(topics: &[&str]) -> Vec<u8> {
        let mut out = vec![0, 0];
        out.extend_from_slice(&(topics.len() as i32).to_be_bytes());
        for topic in topics {
            out.extend_from_slice(&(topic.len() as i16).to_be_bytes());
            out.extend_from_slice(topic.as_bytes());
        }
        out.extend_from_slice(&(-1i32).to_be_bytes()); // null user data
        out
    }

    #[test]
    fn reads_topics() {
        assert_eq!(
            subscribed_topics(&encode(&["a", "bc"])),
            Some(vec!["a".into(), "bc".into()])
        );
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(subscribed_topics(&[0, 1, 0]), None);
        assert_eq!(subscribed_topics(&[0, 0, 0x7f, 0xff, 0xff, 0xff]), None);
        assert_eq!(subscribed_topics(&[0, 0, 0, 0, 0, 1, 0, 5, b'a']), None);
    }
}
