-- Wireshark dissector for the smsemu IP server's wire protocol (docs/receipt-wire.md):
-- framed JSON over TCP, each frame a 4-octet big-endian length and one JSON object
-- with a string "type".  Registered on TCP port 7102, the IP server's default and the
-- port its leg has in smsemu's captures (smsemu up --pcap, the demo, GET /capture).
--
-- Use: wireshark -X lua_script:contrib/wireshark/smsemu_ip.lua capture.pcapng
--  or copy this file into Wireshark's personal plugins folder.
-- Display filters: smsemu_ip, smsemu_ip.type == "feedback", smsemu_ip.length > 100,
-- smsemu_ip.device == "d3f9a1c2b4e5d6a7b8c9d0e1", smsemu_ip.nonce (the login's
-- challenge-response: login, challenge, login_proof, login_ok; docs/receipt-wire.md
-- §Login), smsemu_ip.secret_in_clear (a login of the old protocol, secret and all);
-- every field of the JSON too, e.g. json.key == "window" (the window's sealed hits).

local proto = Proto("smsemu_ip", "smsemu IP server (framed JSON)")

local f_length = ProtoField.uint32("smsemu_ip.length", "Length", base.DEC)
local f_type = ProtoField.string("smsemu_ip.type", "Type")
local f_payload = ProtoField.string("smsemu_ip.payload", "Payload")
local f_id = ProtoField.string("smsemu_ip.id", "Request id")
local f_device = ProtoField.string("smsemu_ip.device", "Device")
local f_nonce = ProtoField.string("smsemu_ip.nonce", "Nonce")
local f_proof = ProtoField.string("smsemu_ip.proof", "ClientProof")
local f_signature = ProtoField.string("smsemu_ip.signature", "ServerSignature")
local f_code = ProtoField.string("smsemu_ip.code", "Error code")
proto.fields = { f_length, f_type, f_payload, f_id, f_device, f_nonce, f_proof, f_signature, f_code }

local e_too_long = ProtoExpert.new("smsemu_ip.too_long", "Frame length above 65536",
    expert.group.MALFORMED, expert.severity.ERROR)
local e_no_type = ProtoExpert.new("smsemu_ip.no_type", "No string \"type\" in the object",
    expert.group.PROTOCOL, expert.severity.WARN)
local e_secret = ProtoExpert.new("smsemu_ip.secret_in_clear",
    "A secret sent in clear (a login of the old protocol: refused, and the secret is exposed)",
    expert.group.SECURITY, expert.severity.WARN)
proto.experts = { e_too_long, e_no_type, e_secret }

-- The login frames' fields, shown in the tree and the Info column (the JSON
-- dissector below shows every field of every frame).
local LOGIN_FIELDS = {
    login = { device = f_device, nonce = f_nonce },
    push_subscribe = { device = f_device, nonce = f_nonce },
    challenge = { nonce = f_nonce },
    login_proof = { proof = f_proof },
    login_ok = { device = f_device, signature = f_signature },
    error = { code = f_code },
}
local SHOWN = { "device", "code" }  -- in the Info column after the type

local function string_field(text, name)
    return text:match('"' .. name .. '"%s*:%s*"([^"]*)"')
end

local function request_id(text)
    return text:match('"id"%s*:%s*(%-?%d+)') or string_field(text, "id")
end

local MAX_LENGTH = 65536
local json = Dissector.get("json")

local function frame_length(tvb, pinfo, offset)
    return 4 + tvb(offset, 4):uint()
end

local function dissect_frame(tvb, pinfo, tree)
    local length = tvb(0, 4):uint()
    local item = tree:add(proto, tvb(), "smsemu IP frame")
    item:add(f_length, tvb(0, 4))
    pinfo.cols.protocol = "SMSEMU-IP"
    if length > MAX_LENGTH then
        item:add_proto_expert_info(e_too_long)
        return tvb:len()
    end
    local body = tvb(4, length)
    local text = body:string(ENC_UTF_8)
    local kind = text:match('"type"%s*:%s*"([^"]*)"')
    if kind then
        item:add(f_type, body, kind)
        item:append_text(": " .. kind)
        local info = kind
        local named = LOGIN_FIELDS[kind]
        if named then
            local id = request_id(text)
            if id then
                item:add(f_id, body, id)
            end
            for name, field in pairs(named) do
                local value = string_field(text, name)
                if value then
                    item:add(field, body, value)
                end
            end
            for _, name in ipairs(SHOWN) do
                local value = named[name] and string_field(text, name)
                if value then
                    info = info .. " " .. value
                end
            end
        end
        if (kind == "login" or kind == "push_subscribe") and string_field(text, "secret") then
            item:add_proto_expert_info(e_secret)
        end
        pinfo.cols.info:append(info .. " ")
    else
        item:add_proto_expert_info(e_no_type)
    end
    item:add(f_payload, body)
    json:call(body:tvb(), pinfo, item)
    return tvb:len()
end

function proto.dissector(tvb, pinfo, tree)
    pinfo.cols.info:clear()
    dissect_tcp_pdus(tvb, tree, 4, frame_length, dissect_frame)
    return tvb:len()
end

DissectorTable.get("tcp.port"):add(7102, proto)
