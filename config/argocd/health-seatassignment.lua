-- Argo CD health check for licensing.seatkeeper.io/SeatAssignment.
-- Argo CD runs it with only the base and table libraries (no string library) and the object in
-- the global `obj`. Healthy when the seat is Bound, or Disabled by its toggle (spec.enabled:
-- false, a state someone chose); Progressing while it waits for a seat (no seat free, pool not
-- created yet, pool managed by another system); Degraded when waiting cannot help: the assignee
-- already has another seat in the pool, or the pool has expired.
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
local reason = obj.status.reason
local message = obj.status.message
if message == nil then
  message = phase
end

if phase == "Bound" then
  hs.status = "Healthy"
  hs.message = message
elseif phase == "Disabled" then
  hs.status = "Healthy"
  hs.message = "Disabled (spec.enabled: false): " .. message
elseif phase == "Pending" and (reason == "DuplicateAssignee" or reason == "PoolExpired") then
  hs.status = "Degraded"
  hs.message = message
else
  hs.status = "Progressing"
  hs.message = message
end
return hs
