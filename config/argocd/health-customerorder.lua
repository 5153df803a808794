-- Argo CD health check for licensing.seatkeeper.io/CustomerOrder.
-- Argo CD runs it with only the base and table libraries (no string library) and the object in
-- the global `obj`. Healthy when the order's capacity counts (Active and Fulfilled) and in the
-- states a partner chose or the calendar brought (Unassigned, Scheduled, Expired, Cancelled: the
-- Ready condition's message says which); Progressing while an Active order waits for its
-- customer's namespace (CustomerNotFound); Degraded when Invalid (a pool of another product
-- under the item's pool name).
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
local message = ready.message
if message == nil then
  message = phase
end

if phase == "Invalid" then
  hs.status = "Degraded"
  hs.message = message
elseif ready.status == "True" then
  hs.status = "Healthy"
  if phase == "Active" then
    hs.message = message
  else
    hs.message = phase .. ": " .. message
  end
else
  -- Active, but the customer's namespace does not exist yet (CustomerNotFound).
  hs.status = "Progressing"
  hs.message = message
end
return hs
