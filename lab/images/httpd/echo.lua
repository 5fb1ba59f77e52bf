-- POST /echo for the lab: the request body, read whole, written back unchanged.
function handle(r)
    if r.method ~= "POST" then
        return 405
    end
    local body = r:requestbody() or ""
    r.content_type = "application/octet-stream"
    r.headers_out["Content-Length"] = tostring(#body)
    r:write(body)
    return apache2.OK
end
