-- Argo CD health check for licensing.seatkeeper.io/SharedSession.
-- Argo CD runs it with only the base and table libraries (no string library) and the object in
-- the global `obj`. Healthy while the session holds a licence (Active); Progressing while it
-- waits in the queue (the message gives its position); once Ended (final), Healthy when it was
-- ended on request (spec.terminate: true) and Degraded for every other end reason
-- (HeartbeatExpired, IdleTimeout, MaxDurationExceeded, PoolExpired, PoolNotFound, Rejected,
-- NotEntitled, CapacityReduced): a session kept in Git is expected to be held.
local hs = {}

local function condition(t)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == t then
      return c
    end
  end
  return nil
end

local generation = obj.metadata.generation
local ready = condition("Ready")
if obj.status == nil or obj.status.observedGeneration == nil or ready == nil or obj.status.phase == nil
    or (generation ~= nil and obj.status.observedGeneration < generation)
    or (generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for seatkeeper to reconcile generation " .. tostring(generation)
  return hs
end

local phase = obj.status.phase
local message = obj.status.message
if message == nil then
  message = phase
end

if phase == "Active" then
  hs.status = "Healthy"
  hs.message = message
elseif phase == "Waiting" then
  hs.status = "Progressing"
  hs.message = message
elseif phase == "Ended" then
  local reason = obj.status.endReason
  if reason == nil then
    reason = "Unknown"
  end
  if reason == "Terminated" then
    hs.status = "Healthy"
  else
    hs.status = "Degraded"
  end
  hs.message = "Ended (" .. reason .. "): " .. message
else
  hs.status = "Progressing"
  hs.message = message
end
return hs
