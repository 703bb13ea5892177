-- wrk script for scripts/bench-seal-sign.sh: POST /v1/seals/SEAL_ID/sign
-- with a supplied digest (JSON), as a seal-user app signs documents it has
-- already hashed. Every request seals a different digest.
--
--   SEAL_ID=seal_... SEAL_KEY=shk_... wrk -s scripts/bench-seal-sign.lua http://HUB
local seal = assert(os.getenv("SEAL_ID"), "set SEAL_ID")
local key = assert(os.getenv("SEAL_KEY"), "set SEAL_KEY")

wrk.method = "POST"
wrk.path = "/v1/seals/" .. seal .. "/sign"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key

local threads = {}
local nthreads = 0

function setup(thread)
	nthreads = nthreads + 1
	thread:set("tid", nthreads)
	table.insert(threads, thread)
end

local prefix = string.rep("5e", 24) -- 48 hex digits; 16 more vary per request
local n = 0
bad = 0 -- global: done() reads it from each thread

function request()
	n = n + 1
	local digest = prefix .. string.format("%04x%012x", tid, n)
	local body = '{"document":{"sha256":"' .. digest .. '","size":' .. (1000 + n % 100000) ..
		',"media_type":"application/pdf","name":"采购合同-' .. n .. '.pdf"},"purpose":"签订采购合同（压力测试）"}'
	return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
	if status ~= 200 then
		bad = bad + 1
		if bad <= 3 then
			io.stderr:write("status " .. status .. ": " .. body .. "\n")
		end
	end
end

function done(summary, latency, requests)
	local b = 0
	for _, t in ipairs(threads) do
		b = b + (t:get("bad") or 0)
	end
	io.write(string.format("signatures: %d requests, %d not 200\n", summary.requests, b))
end
