-- wrk script: every request submits one job (POST /v1/jobs) as an operator on behalf of a regular user.
-- TOKEN and JOB_USER come from the environment (bench/wrk/submit.sh sets them).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.body = '{"args":["-l","/nodes=1,walltime=0:01:00"],"script":"#!/bin/sh\\ntrue\\n","user":"' .. os.getenv("JOB_USER") .. '","workingDirectory":"/tmp"}'

local errors = 0
response = function(status, headers, body)
  if status ~= 201 and status ~= 200 then
    errors = errors + 1
    if errors <= 3 then io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n") end
  end
end
