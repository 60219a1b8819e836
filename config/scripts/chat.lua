-- The chat of `make run`'s Realtime fleet (fleets/fleet-realtime.json): a
-- server script of rally-relay (docs/relay.md "Scripts"), one copy per game
-- session.
--
--   opCode 1  a chat line to everyone (or a group or a player): the script
--             masks the words below and keeps the last lines, which a
--             player who joins later hears first
--   opCode 2  to the server: who is here (answered with opCode 3)

local MASKED = {"noob", "lag", "camper"}
local HISTORY = 20
local session
local history = {}

function init(s)
  session = s
end

local function mask(text)
  for _, word in ipairs(MASKED) do
    local from = 1
    while true do
      local i, j = string.find(text, word, from, true)
      if i == nil then break end
      text = text:sub(1, i) .. string.rep("*", j - i) .. text:sub(j + 1)
      from = j + 1
    end
  end
  return text
end

local function chat(m)
  if m.opCode ~= 1 then return true end
  m.payload = mask(m.payload:sub(1, 200))
  if m.targetGroup == session.getAllPlayersGroupId() then
    history[#history + 1] = {sender = m.sender, text = m.payload}
    if #history > HISTORY then table.remove(history, 1) end
  end
  return true
end

onSendToGroup = chat
onSendToPlayer = chat

function onPlayerAccepted(player)
  for _, line in ipairs(history) do
    session.sendReliableMessage(session.newTextGameMessage(1, line.sender, line.text), player.peerId)
  end
end

function onMessage(m)
  if m.opCode == 2 then
    local who = session.newTextGameMessage(3, session.getServerId(), table.concat(session.getPlayers(), " "))
    session.sendReliableMessage(who, m.sender)
  end
end
