-- wrk script for scripts/bench.sh: one script for every route, so the client
-- does the same work per request whatever the route.
--
--   wrk ... -s bench/rally.lua URL -- MODE THREADS [FILE FIRST COUNT]
--
--   hello          GET  /bench/hello
--   guest          POST /v1/identity/guest {}
--   login          POST /v1/identity/guest {"user_id","guest_secret"}: a
--                  returning guest; FILE has "user_id guest_secret" lines;
--                  every thread rotates through all of them
--   matchmaking    POST /v1/matchmaking, a new player per request: FILE has
--                  "sub token" lines (rally-keys mint); lines FIRST..FIRST+COUNT-1
--                  are split into one slice per thread, each token is used once,
--                  and a thread whose slice runs out stops (the rate is then
--                  over the time actually run, which done() reports)
--   poll           GET /v1/matchmaking/{ticketId}: FILE has "ticketId token"
--                  lines; every thread rotates through all of them
--   replay         whole requests made beforehand (the GameLift API's, signed
--                  by scripts/bench-gamelift.py): FILE has one per line, with
--                  its CRLFs written as tabs; every thread rotates through all
--
-- done() prints one line "BENCH-JSON {...}" that scripts/bench.sh parses.
-- wrk itself always divides by the full -d duration, even when every thread
-- stopped early, so a run that ran out of tokens is timed here instead.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long sec; long nsec; } rally_timespec;
int clock_gettime(int clk, rally_timespec *ts);
]]
local ts = ffi.new("rally_timespec")
local function now()
   ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
   return tonumber(ts.sec) + tonumber(ts.nsec) * 1e-9
end

local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("tid", counter)
   table.insert(threads, thread)
end

local mode, host, mm_head, poll_tail
local fixed         -- the request when it never changes
local tokens = {}   -- matchmaking: this thread's tokens; poll: tokens
local ids = {}      -- poll: ticket ids, parallel to tokens
local canned = {}   -- replay: the requests
local pos, last = 0, 0
-- Globals, which done() reads through thread:get.
used, exhausted, overflow = 0, 0, 0
t_first, t_stop = 0, 0

local mm_body = '{"latencyInMs":{"us-east-1":20,"eu-west-1":80}}'

local function split2(line)
   local a, b = line:match("^(%S+)%s+(%S+)")
   return a, b
end

-- The modes that rotate through a file's n entries: every thread through
-- all of them, each starting at its own share.
local function rotate(n, nthreads, what, file)
   last = n
   if last == 0 then
      io.stderr:write("rally.lua: no " .. what .. " in " .. file .. "\n")
      os.exit(1)
   end
   pos = (tid - 1) * math.floor(last / nthreads)
end

function init(args)
   mode = args[1]
   local nthreads = tonumber(args[2])
   host = wrk.host .. ":" .. wrk.port
   mm_head = "POST /v1/matchmaking HTTP/1.1\r\nHost: " .. host ..
             "\r\nContent-Type: application/json\r\nContent-Length: " .. #mm_body ..
             "\r\nAuthorization: Bearer "
   poll_tail = " HTTP/1.1\r\nHost: " .. host .. "\r\nAuthorization: Bearer "
   if mode == "hello" then
      fixed = wrk.format("GET", "/bench/hello")
   elseif mode == "guest" then
      fixed = wrk.format("POST", "/v1/identity/guest",
                         { ["Content-Type"] = "application/json" }, "{}")
   elseif mode == "matchmaking" then
      local file, first, count = args[3], tonumber(args[4]), tonumber(args[5])
      local per = math.floor(count / nthreads)
      local from = first + (tid - 1) * per
      local to = from + per - 1
      local n = 0
      for line in io.lines(file) do
         n = n + 1
         if n > to then break end
         if n >= from then
            local _, tok = split2(line)
            tokens[#tokens + 1] = tok
         end
      end
      last = #tokens
      if last == 0 then
         io.stderr:write("rally.lua: thread " .. tid .. " has no tokens\n")
         os.exit(1)
      end
   elseif mode == "poll" then
      for line in io.lines(args[3]) do
         local id, tok = split2(line)
         if id ~= nil then
            ids[#ids + 1] = id
            tokens[#tokens + 1] = tok
         end
      end
      rotate(#ids, nthreads, "tickets", args[3])
   elseif mode == "login" then
      for line in io.lines(args[3]) do
         local user, secret = split2(line)
         if user ~= nil then
            local body = '{"user_id":"' .. user .. '","guest_secret":"' .. secret .. '"}'
            canned[#canned + 1] = wrk.format("POST", "/v1/identity/guest",
                                             { ["Content-Type"] = "application/json" }, body)
         end
      end
      rotate(#canned, nthreads, "guests", args[3])
   elseif mode == "replay" then
      for line in io.lines(args[3]) do
         if #line > 0 then
            canned[#canned + 1] = line:gsub("\t", "\r\n")
         end
      end
      rotate(#canned, nthreads, "requests", args[3])
   else
      io.stderr:write("rally.lua: unknown mode " .. tostring(mode) .. "\n")
      os.exit(1)
   end
end


function request()
   if fixed ~= nil then
      return fixed
   end
   if mode == "matchmaking" then
      if t_first == 0 then
         t_first = now()
      end
      if pos >= last then
         -- Out of fresh players: stop this thread rather than send a reused
         -- token (409). The loop stops before this request is written.
         if exhausted == 0 then
            exhausted = 1
            t_stop = now()
            wrk.thread:stop()
         end
         overflow = overflow + 1
         return wrk.format("GET", "/bench/hello")
      end
      pos = pos + 1
      used = used + 1
      return mm_head .. tokens[pos] .. "\r\n\r\n" .. mm_body
   end
   if mode == "replay" or mode == "login" then
      pos = pos % last + 1
      used = used + 1
      return canned[pos]
   end
   -- poll
   pos = pos % last + 1
   used = used + 1
   return "GET /v1/matchmaking/" .. ids[pos] .. poll_tail .. tokens[pos] .. "\r\n\r\n"
end

function done(summary, latency, requests)
   local u, ex = 0, 0
   local first, stop = math.huge, 0
   for _, t in ipairs(threads) do
      u = u + (t:get("used") or 0)
      ex = ex + (t:get("exhausted") or 0)
      local f, s = t:get("t_first") or 0, t:get("t_stop") or 0
      if f > 0 and f < first then first = f end
      if s > stop then stop = s end
   end
   local e = summary.errors
   local secs = summary.duration / 1e6
   if ex > 0 and stop > first then
      -- Out of tokens: the run lasted until the last thread stopped.
      secs = stop - first
   end
   io.write(string.format(
      'BENCH-JSON {"requests":%d,"duration_s":%.3f,"rps":%.1f,' ..
      '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
      '"non2xx":%d,"socket_errors":%d,"timeouts":%d,"sent_by_script":%d,"threads_out_of_tokens":%d}\n',
      summary.requests, secs, summary.requests / secs,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000,
      e.status, e.connect + e.read + e.write, e.timeout, u, ex))
end
