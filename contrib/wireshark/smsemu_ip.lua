-- Wireshark dissector for the smsemu IP server's wire protocol (docs/receipt-wire.md):
-- framed JSON over TCP, each frame a 4-octet big-endian length and one JSON object
-- with a string "type".  Registered on TCP port 7102, the IP server's default and the
-- port its leg has in smsemu's captures (smsemu up --pcap, the demo, GET /capture).
--
-- Use: wireshark -X lua_script:contrib/wireshark/smsemu_ip.lua capture.pcapng
--  or copy this file into Wireshark's personal plugins folder.
-- Display filters: smsemu_ip, smsemu_ip.type == "feedback", smsemu_ip.length > 100;
-- every field of the JSON too, e.g. json.key == "window" (the window's sealed hits).

local proto = Proto("smsemu_ip", "smsemu IP server (framed JSON)")

local f_length = ProtoField.uint32("smsemu_ip.length", "Length", base.DEC)
local f_type = ProtoField.string("smsemu_ip.type", "Type")
local f_payload = ProtoField.string("smsemu_ip.payload", "Payload")
proto.fields = { f_length, f_type, f_payload }

local e_too_long = ProtoExpert.new("smsemu_ip.too_long", "Frame length above 65536",
    expert.group.MALFORMED, expert.severity.ERROR)
local e_no_type = ProtoExpert.new("smsemu_ip.no_type", "No string \"type\" in the object",
    expert.group.PROTOCOL, expert.severity.WARN)
proto.experts = { e_too_long, e_no_type }

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
        pinfo.cols.info:append(kind .. " ")
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
