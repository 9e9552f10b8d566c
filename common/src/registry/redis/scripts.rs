//! The registry's Lua scripts: every write that must check something in the same atomic step.
//!
//! Fenced writes start with the same check: `KEYS[1]` is the lease-term counter and
//! `ARGV[1]` the writer's term, `''` for a writer that is not fenced (api, signaling). A
//! fenced writer whose term is not the newest gets the error `FENCED` and nothing changes.
//! Their own keys and arguments follow from index 2.

use std::sync::LazyLock;

use redis::Script;

/// The fencing check every fenced script begins with.
const FENCE_CHECK: &str = "
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return redis.error_reply('FENCED lease term ' .. ARGV[1] .. ' is over')
end
";

pub(super) fn fenced(body: &str) -> Script {
    Script::new(&format!("{FENCE_CHECK}{body}"))
}

/// EXISTS stream -> SISMEMBER -> SCARD < limit -> SADD, then, when newly reserved and
/// fields are given, the viewer's record and its indexes. KEYS: fence, stream, slot set,
/// [viewer, viewers index, instance set]. ARGV: term, viewer id, limit, [field/value pairs].
/// Returns 0 reserved, 1 full, 2 no such stream.
pub(super) static RESERVE_SLOT: LazyLock<Script> = LazyLock::new(|| {
    fenced(
        r"
        if redis.call('EXISTS', KEYS[2]) == 0 then return 2 end
        if redis.call('SISMEMBER', KEYS[3], ARGV[2]) == 1 then return 0 end
        if redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[3]) then return 1 end
        redis.call('SADD', KEYS[3], ARGV[2])
        if KEYS[4] then
            redis.call('DEL', KEYS[4])
            redis.call('HSET', KEYS[4], unpack(ARGV, 4))
            redis.call('SADD', KEYS[5], ARGV[2])
            redis.call('SADD', KEYS[6], ARGV[2])
        end
        return 0
        ",
    )
});

/// Replaces a viewer hash and moves it between instance sets. KEYS: fence, viewer, viewers
/// index, new instance set, [old instance set]. ARGV: term, viewer id, expected old instance
/// ('' for none), field/value pairs. Returns 1, or -1 if the instance changed meanwhile.
pub(super) static PUT_VIEWER: LazyLock<Script> = LazyLock::new(|| {
    fenced(
        r"
        local old = redis.call('HGET', KEYS[2], 'signaling_instance') or ''
        if old ~= ARGV[3] then return -1 end
        redis.call('DEL', KEYS[2])
        redis.call('HSET', KEYS[2], unpack(ARGV, 4))
        redis.call('SADD', KEYS[3], ARGV[2])
        if KEYS[5] then redis.call('SREM', KEYS[5], ARGV[2]) end
        redis.call('SADD', KEYS[4], ARGV[2])
        return 1
        ",
    )
});

/// Frees a slot and removes a viewer's record and index entries. KEYS: fence, slot set,
/// viewer, viewers index, [instance set]. ARGV: term, viewer id, expected instance ('' for
/// none). Returns how many entries went away, or -1.
pub(super) static REMOVE_VIEWER: LazyLock<Script> = LazyLock::new(|| {
    fenced(
        r"
        local inst = redis.call('HGET', KEYS[3], 'signaling_instance') or ''
        if inst ~= ARGV[3] then return -1 end
        local n = redis.call('SREM', KEYS[2], ARGV[2]) + redis.call('DEL', KEYS[3]) + redis.call('SREM', KEYS[4], ARGV[2])
        if KEYS[5] then n = n + redis.call('SREM', KEYS[5], ARGV[2]) end
        return n
        ",
    )
});

/// Replaces a stream hash and indexes it. KEYS: fence, stream, streams index. ARGV: term,
/// camera id, field/value pairs.
pub(super) static PUT_STREAM: LazyLock<Script> = LazyLock::new(|| {
    fenced(
        r"
        redis.call('DEL', KEYS[2])
        redis.call('HSET', KEYS[2], unpack(ARGV, 3))
        redis.call('SADD', KEYS[3], ARGV[2])
        return 1
        ",
    )
});

/// Removes a stream, its index entry and its slot set. KEYS: fence, stream, streams index,
/// slot set. ARGV: term, camera id. Returns how many of the first two went away.
pub(super) static DELETE_STREAM: LazyLock<Script> = LazyLock::new(|| {
    fenced(
        r"
        local n = redis.call('DEL', KEYS[2]) + redis.call('SREM', KEYS[3], ARGV[2])
        redis.call('DEL', KEYS[4])
        return n
        ",
    )
});

/// Removes a member from a set. KEYS: fence, set. ARGV: term, member.
pub(super) static SET_REMOVE: LazyLock<Script> =
    LazyLock::new(|| fenced("return redis.call('SREM', KEYS[2], ARGV[2])"));

/// Sets a string, with an expiry in ms if ARGV[3] is given. KEYS: fence, key. ARGV: term,
/// value, [px].
pub(super) static SET_VALUE: LazyLock<Script> = LazyLock::new(|| {
    fenced(
        r"
        if ARGV[3] then return redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
        return redis.call('SET', KEYS[2], ARGV[2])
        ",
    )
});

/// Deletes a key. KEYS: fence, key. ARGV: term.
pub(super) static DELETE_VALUE: LazyLock<Script> = LazyLock::new(|| fenced("return redis.call('DEL', KEYS[2])"));

/// Takes the lease if free (starting a new term), renews it if ARGV[1] holds it. KEYS:
/// lease, term counter. ARGV: holder, px. Returns the holder's term, or 0 if another holds it.
pub(super) static ACQUIRE_LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local holder = redis.call('GET', KEYS[1])
        if holder == false then
            local term = redis.call('INCR', KEYS[2])
            redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
            return term
        end
        if holder == ARGV[1] then
            redis.call('PEXPIRE', KEYS[1], ARGV[2])
            local term = redis.call('GET', KEYS[2])
            if not term then term = redis.call('INCR', KEYS[2]) end
            return tonumber(term)
        end
        return 0
        ",
    )
});

/// Deletes the lease only if ARGV[1] holds it.
pub(super) static RELEASE_LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        ",
    )
});
