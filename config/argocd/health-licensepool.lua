-- Argo CD health check for licensing.seatkeeper.io/LicensePool.
-- Argo CD runs it with only the base and table libraries (no string library) and the object in
-- the global `obj`. Healthy while Ready is True (a full pool is still healthy: the message says
-- so); Degraded once the licence has expired; Progressing until seatkeeper has reconciled the
-- current spec (status.observedGeneration and the Ready condition's observedGeneration).
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
if obj.status == nil or obj.status.observedGeneration == nil or ready == nil
    or (generation ~= nil and obj.status.observedGeneration < generation)
    or (generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for seatkeeper to reconcile generation " .. tostring(generation)
  return hs
end

local expired = condition("Expired")
if expired ~= nil and expired.status == "True" then
  hs.status = "Degraded"
  hs.message = expired.message
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message
  local soon = condition("ExpiringSoon")
  if soon ~= nil and soon.status == "True" then
    hs.message = ready.message .. "; " .. soon.message
  end
  return hs
end

if ready.status == "False" then
  hs.status = "Degraded"
else
  hs.status = "Progressing"
end
hs.message = ready.message
return hs
