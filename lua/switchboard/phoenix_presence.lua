-- The Phoenix Presence helper of switchboard.phoenix (which re-exports it
-- as sb.phoenix.sync_diff, sync_state, list and presence): merges state and
-- diffs the way the npm client's Presence class does.
-- @module switchboard.phoenix_presence
local util = require "switchboard.util"

local M = {}

local Presence = util.class("switchboard.phoenix.Presence")

local function clone(v)
    if type(v) ~= "table" then
        return v
    end
    local c = {}
    for k, x in pairs(v) do
        c[k] = clone(x)
    end
    return c
end

local function refs_of(metas)
    local set = {}
    for _, m in ipairs(metas) do
        set[m.phx_ref] = true
    end
    return set
end

local function noop() end

--- Applies a diff { joins, leaves } to state (in place) the way the JS
-- client's Presence.syncDiff does; returns state.
function M.sync_diff(state, diff, on_join, on_leave)
    on_join, on_leave = on_join or noop, on_leave or noop
    local joins, leaves = diff.joins or {}, diff.leaves or {}
    local jkeys, lkeys = {}, {}
    for k in pairs(joins) do
        jkeys[#jkeys + 1] = k
    end
    for k in pairs(leaves) do
        lkeys[#lkeys + 1] = k
    end
    table.sort(jkeys)
    table.sort(lkeys)
    for _, key in ipairs(jkeys) do
        local new = joins[key]
        local current = state[key]
        state[key] = clone(new)
        if current then
            local joined = refs_of(state[key].metas)
            local kept = {}
            for _, m in ipairs(current.metas) do
                if not joined[m.phx_ref] then
                    kept[#kept + 1] = m
                end
            end
            for _, m in ipairs(state[key].metas) do
                kept[#kept + 1] = m
            end
            state[key].metas = kept
        end
        on_join(key, current, new)
    end
    for _, key in ipairs(lkeys) do
        local left = leaves[key]
        local current = state[key]
        if current then
            local gone = refs_of(left.metas)
            local remaining = {}
            for _, m in ipairs(current.metas) do
                if not gone[m.phx_ref] then
                    remaining[#remaining + 1] = m
                end
            end
            current.metas = remaining
            on_leave(key, current, left)
            if #remaining == 0 then
                state[key] = nil
            end
        end
    end
    return state
end

--- Merges a full state into current (Presence.syncState): keys or metas
-- missing from the new state leave, new ones join.  Returns the state.
function M.sync_state(current, new_state, on_join, on_leave)
    local state = clone(current)
    local joins, leaves = {}, {}
    for key, presence in pairs(state) do
        if not new_state[key] then
            leaves[key] = presence
        end
    end
    for key, new in pairs(new_state) do
        local cur = state[key]
        if cur then
            local new_refs, cur_refs = refs_of(new.metas), refs_of(cur.metas)
            local joined, left = {}, {}
            for _, m in ipairs(new.metas) do
                if not cur_refs[m.phx_ref] then
                    joined[#joined + 1] = m
                end
            end
            for _, m in ipairs(cur.metas) do
                if not new_refs[m.phx_ref] then
                    left[#left + 1] = m
                end
            end
            if #joined > 0 then
                joins[key] = clone(new)
                joins[key].metas = joined
            end
            if #left > 0 then
                leaves[key] = clone(cur)
                leaves[key].metas = left
            end
        else
            joins[key] = new
        end
    end
    return M.sync_diff(state, { joins = joins, leaves = leaves }, on_join, on_leave)
end

--- Keys mapped through chooser(key, presence) (default: the presence),
-- sorted by key.
function M.list(state, chooser)
    chooser = chooser or function(_, p) return p end
    local keys, out = {}, {}
    for k in pairs(state) do
        keys[#keys + 1] = k
    end
    table.sort(keys)
    for _, k in ipairs(keys) do
        out[#out + 1] = chooser(k, state[k])
    end
    return out
end

--- Tracks a channel's presence_state / presence_diff events.  Diffs
-- wait until a state arrived for the channel's current join (so a rejoin
-- resynchronises), as in the JS class.
function M.presence(channel, opts)
    opts = opts or {}
    local self = setmetatable({ channel = channel, state = {}, pending = {},
        _on_join = noop, _on_leave = noop, _on_sync = noop }, Presence)
    channel:on(opts.state_event or "presence_state", function(new_state)
        self.join_ref = channel:join_ref()
        self.state = M.sync_state(self.state, new_state, self._on_join, self._on_leave)
        for _, d in ipairs(self.pending) do
            M.sync_diff(self.state, d, self._on_join, self._on_leave)
        end
        self.pending = {}
        self._on_sync()
    end)
    channel:on(opts.diff_event or "presence_diff", function(diff)
        if self.join_ref == nil or self.join_ref ~= channel:join_ref() then
            self.pending[#self.pending + 1] = diff
        else
            M.sync_diff(self.state, diff, self._on_join, self._on_leave)
            self._on_sync()
        end
    end)
    return self
end

--- fn(key, current, new_presence) for each key that joins or gains a
-- meta; returns the Presence.
function Presence:on_join(fn)
    self._on_join = fn
    return self
end

--- fn(key, current, left_presence) for each key that leaves or loses a
-- meta; returns the Presence.
function Presence:on_leave(fn)
    self._on_leave = fn
    return self
end

--- fn() after each presence_state or presence_diff was merged; returns
-- the Presence.
function Presence:on_sync(fn)
    self._on_sync = fn
    return self
end

--- The presences as a list: chooser(key, presence) for each (default: the
-- presence itself), in key order.
function Presence:list(chooser)
    return M.list(self.state, chooser)
end
return M
