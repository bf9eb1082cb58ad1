-- wrk script of the peers benchmark: GETs the URL as is, or, given a file of "Cookie<TAB>body" lines
-- (one CSRF cookie and token pair per client), POSTs those forms in turn. Prints one WRK_RESULT line.

local max_requests = 200000 -- per thread: a cap that a few seconds on loopback never reaches
local sent = 0
local posts = nil
local next_post = 1

function init(args)
  if args[1] then
    posts = {}
    for line in io.lines(args[1]) do
      local cookie, body = line:match("^([^\t]*)\t(.*)$")
      local headers = { ["Cookie"] = cookie, ["Content-Type"] = "application/x-www-form-urlencoded" }
      table.insert(posts, wrk.format("POST", nil, headers, body))
    end
  end
end

function request()
  sent = sent + 1
  if sent > max_requests then
    wrk.thread:stop()
  end
  if posts then
    local post = posts[next_post]
    next_post = next_post % #posts + 1
    return post
  end
  return wrk.format()
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
