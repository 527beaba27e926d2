-- Wireshark dissector for oisa captures (`oisa run ... --pcap FILE`).
--
-- Use it for one run with `tshark -X lua_script:oisa.lua -r FILE` (or `wireshark -X ...`), or
-- install it with `oisa wireshark-plugin --install`. It registers itself for the link types an
-- oisa capture uses (specs/captures.md), so no preference needs setting:
--   USER0 (147) OISA link flits: header, control entries, CRC-32 checked, and the messages of
--               the link's stream, reassembled across flits as the receiving end takes them;
--   USER1 (148) native PCIe TLPs; USER2 (149) native CXL.mem messages; USER3 (150) vendor
--               frames (VDESC descriptors checked with their CRC-32C);
--   USER4 (151) whole OISA messages (links without a link layer, timing mode).
--
-- The blocks between "generated:" markers are written by `python -m oisa.specgen` from oisa's
-- construct schemas (oisa/observe/dissector.py); a test fails if they differ. Edit the rest.

local bit = bit  -- Wireshark's BitOp library, loaded in every Lua version it supports

-- generated: wireshark-constants
local C = {
  FLIT_HEADER_SIZE = 16,
  FLIT_CRC_SIZE = 4,
  SEQ_MODULUS = 4096,
  NO_MESSAGE_START = 0xffff,
  CREDIT_ENTRY_SIZE = 6,
  FLIT_DATA = 1,
  ENTRY_CODES = {
    [0x02]=true, [0x03]=true, [0x04]=true},
  MESSAGE_HEADER_SIZE = 20,
  COLL_EXT_SIZE = 8,
  COLL_REDUCE = 0x30,
  OPCODES = {
    [0x01]=true, [0x02]=true, [0x03]=true, [0x04]=true, [0x05]=true, [0x06]=true, [0x07]=true,
    [0x10]=true, [0x11]=true, [0x12]=true, [0x13]=true, [0x20]=true, [0x21]=true, [0x22]=true,
    [0x30]=true, [0x80]=true, [0x81]=true, [0x82]=true, [0x83]=true},
  OPCODES_WITH_PAYLOAD = {
    [0x01]=true, [0x03]=true, [0x04]=true, [0x05]=true, [0x07]=true, [0x10]=true, [0x12]=true,
    [0x21]=true, [0x30]=true, [0x81]=true, [0x83]=true},
  TLP_KINDS = {
    [0x00]={"MRd", "tlp_request", 12, false}, [0x01]={"MRdLk", "tlp_request", 12, false},
    [0x02]={"IORd", "tlp_io", 12, false}, [0x04]={"CfgRd0", "tlp_config", 12, false},
    [0x05]={"CfgRd1", "tlp_config", 12, false}, [0x0a]={"Cpl", "tlp_completion", 12, false},
    [0x0b]={"CplLk", "tlp_completion", 12, false}, [0x20]={"MRd", "tlp_request64", 16, false},
    [0x21]={"MRdLk", "tlp_request64", 16, false}, [0x30]={"Msg", "tlp_message", 16, false},
    [0x31]={"Msg", "tlp_message", 16, false}, [0x32]={"Msg", "tlp_message", 16, false},
    [0x33]={"Msg", "tlp_message", 16, false}, [0x34]={"Msg", "tlp_message", 16, false},
    [0x35]={"Msg", "tlp_message", 16, false}, [0x36]={"Msg", "tlp_message", 16, false},
    [0x37]={"Msg", "tlp_message", 16, false}, [0x40]={"MWr", "tlp_request", 12, true},
    [0x42]={"IOWr", "tlp_io", 12, true}, [0x44]={"CfgWr0", "tlp_config", 12, true},
    [0x45]={"CfgWr1", "tlp_config", 12, true}, [0x4a]={"CplD", "tlp_completion", 12, true},
    [0x4b]={"CplDLk", "tlp_completion", 12, true}, [0x4c]={"FetchAdd", "tlp_request", 12, true},
    [0x4d]={"Swap", "tlp_request", 12, true}, [0x4e]={"CAS", "tlp_request", 12, true},
    [0x60]={"MWr", "tlp_request64", 16, true}, [0x6c]={"FetchAdd", "tlp_request64", 16, true},
    [0x6d]={"Swap", "tlp_request64", 16, true}, [0x6e]={"CAS", "tlp_request64", 16, true},
    [0x70]={"MsgD", "tlp_message", 16, true}, [0x71]={"MsgD", "tlp_message", 16, true},
    [0x72]={"MsgD", "tlp_message", 16, true}, [0x73]={"MsgD", "tlp_message", 16, true},
    [0x74]={"MsgD", "tlp_message", 16, true}, [0x75]={"MsgD", "tlp_message", 16, true},
    [0x76]={"MsgD", "tlp_message", 16, true}, [0x77]={"MsgD", "tlp_message", 16, true}},
  TLP_DIGEST_SIZE = 4,
  VDESC_MAGIC = 0x4456,
  VDESC_HEADER_SIZE = 32,
  VDESC_CRC_SIZE = 4,
  VDESC_REDUCE = 0x50,
  VDESC_REDUCE_SIZE = 8,
  VDESC_WITH_PAYLOAD = {
    [0x10]=true, [0x20]=true, [0x22]=true, [0x30]=true, [0x31]=true, [0x32]=true, [0x40]=true,
    [0x50]=true, [0x81]=true},
  CXL_CLASSES = {[1]="cxl_m2s_req", [2]="cxl_m2s_rwd", [3]="cxl_s2m_ndr", [4]="cxl_s2m_drs"},
  CXL_FRAME_SIZE = {[1]=12, [2]=84, [3]=5, [4]=70},
  LINKTYPES = {["oisa-flit"]=147, ["pcie-tlp"]=148, ["cxl-mem"]=149, ["vendor"]=150, ["oisa-msg"]=151},
}
-- end generated

-- generated: wireshark-layouts
local VALUES = {
  FlitKind = {
    [1]="DATA", [2]="CONTROL"},
  ControlCode = {
    [0]="NONE", [1]="ACK", [2]="CREDIT", [3]="INIT_FC1", [4]="INIT_FC2", [5]="RETRAIN",
    [6]="RETRAIN_DONE", [7]="NOP", [8]="CREDIT_POLL"},
  AckKind = {
    [0]="NONE", [1]="ACK", [2]="NAK"},
  FcClass = {
    [0]="POSTED", [1]="NON_POSTED", [2]="COMPLETION"},
  Opcode = {
    [1]="MEM_WR", [2]="MEM_RD", [3]="FETCH_ADD", [4]="SWAP", [5]="CAS", [6]="MSG", [7]="MSG_D",
    [16]="STORE", [17]="LOAD", [18]="DMA_WR", [19]="DMA_RD", [32]="CXL_MEM_RD", [33]="CXL_MEM_WR",
    [34]="CXL_MEM_INV", [48]="COLL_REDUCE", [128]="CPL", [129]="CPL_D", [130]="CXL_NDR",
    [131]="CXL_DRS"},
  CollOp = {
    [0]="SUM", [1]="PROD", [2]="MIN", [3]="MAX"},
  CollDtype = {
    [0]="INT8", [16]="UINT8", [33]="FLOAT16", [49]="BFLOAT16", [2]="INT32", [18]="FLOAT32",
    [3]="INT64", [19]="FLOAT64"},
  CplStatus = {
    [0]="SC", [1]="UR", [2]="CRS", [4]="CA"},
  VdescType = {
    [16]="COPY_WRITE", [17]="COPY_READ", [32]="POSTED_WRITE", [33]="READ", [34]="STORE", [35]="LOAD",
    [48]="ATOMIC_ADD", [49]="ATOMIC_SWAP", [50]="ATOMIC_CAS", [64]="NOTIFY", [80]="REDUCE",
    [128]="WRITE_ACK", [129]="READ_RESPONSE"},
  VdescStatus = {
    [0]="OK", [1]="ABORT", [2]="UNSUPPORTED", [3]="RETRY"},
  ReduceOp = {
    [1]="SUM", [2]="PROD", [3]="MIN", [4]="MAX"},
  ReduceDtype = {
    [1]="F32", [2]="F16", [3]="BF16", [4]="F64", [5]="I32", [6]="I64", [7]="I8", [8]="U8",
    [9]="F8_E4M3", [10]="F8_E5M2"},
  MemClass = {
    [1]="M2S_REQ", [2]="M2S_RWD", [3]="S2M_NDR", [4]="S2M_DRS"},
  M2SReqOpcode = {
    [0]="MEM_INV", [1]="MEM_RD", [2]="MEM_RD_DATA", [3]="MEM_RD_FWD", [4]="MEM_WR_FWD",
    [8]="MEM_SPEC_RD", [9]="MEM_INV_NT"},
  SnpType = {
    [0]="NO_OP", [1]="SNP_DATA", [2]="SNP_CUR", [3]="SNP_INV"},
  M2SRwDOpcode = {
    [1]="MEM_WR", [2]="MEM_WR_PTL"},
  S2MNDROpcode = {
    [0]="CMP", [1]="CMP_S", [2]="CMP_E"},
  DevLoad = {
    [0]="LIGHT_LOAD", [1]="OPTIMAL_LOAD", [2]="MODERATE_OVERLOAD", [3]="SEVERE_OVERLOAD"},
  S2MDRSOpcode = {
    [0]="MEM_DATA"},
}

local LAYOUTS = {
  flit_header = {
    {abbrev="oisa.kind", name="kind", type="uint8", offset=0, length=1, shift=0, bits=8, le=false, base=base.HEX, values=VALUES.FlitKind,
     doc="1 data, 2 control"},
    {abbrev="oisa.code", name="code", type="uint8", offset=1, length=1, shift=0, bits=8, le=false, base=base.HEX, values=VALUES.ControlCode,
     doc="control code (0 in data flits)"},
    {abbrev="oisa.reserved_0", name="reserved_0", type="uint8", offset=2, length=1, shift=4, bits=4, le=false, base=base.DEC, values=nil,
     doc="must be zero"},
    {abbrev="oisa.seq", name="seq", type="uint16", offset=2, length=2, shift=0, bits=12, le=false, base=base.DEC, values=nil,
     doc="data flits: sequence number, modulo 4096 (control flits: 0)"},
    {abbrev="oisa.ack_kind", name="ack_kind", type="uint8", offset=4, length=1, shift=6, bits=2, le=false, base=base.HEX, values=VALUES.AckKind,
     doc="0 none, 1 ACK, 2 NAK"},
    {abbrev="oisa.reserved_1", name="reserved_1", type="uint8", offset=4, length=1, shift=4, bits=2, le=false, base=base.DEC, values=nil,
     doc="must be zero"},
    {abbrev="oisa.ack_seq", name="ack_seq", type="uint16", offset=4, length=2, shift=0, bits=12, le=false, base=base.DEC, values=nil,
     doc="ACK: last sequence received in order; NAK: last good one"},
    {abbrev="oisa.crd_valid", name="crd_valid", type="bool", offset=6, length=1, shift=7, bits=1, le=false, base=base.DEC, values=nil,
     doc="a credit return follows in crd_*"},
    {abbrev="oisa.crd_vc", name="crd_vc", type="uint8", offset=6, length=1, shift=4, bits=3, le=false, base=base.DEC, values=nil,
     doc="virtual channel of the credit return"},
    {abbrev="oisa.crd_class", name="crd_class", type="uint8", offset=6, length=1, shift=2, bits=2, le=false, base=base.DEC, values=VALUES.FcClass,
     doc="0 posted, 1 non-posted, 2 completion"},
    {abbrev="oisa.reserved_2", name="reserved_2", type="uint24", offset=6, length=3, shift=4, bits=14, le=false, base=base.DEC, values=nil,
     doc="must be zero"},
    {abbrev="oisa.crd_hdr", name="crd_hdr", type="uint16", offset=8, length=2, shift=0, bits=12, le=false, base=base.DEC, values=nil,
     doc="header credits allocated so far, modulo 4096 (cumulative, as PCIe)"},
    {abbrev="oisa.crd_data", name="crd_data", type="uint16", offset=10, length=2, shift=0, bits=16, le=false, base=base.DEC, values=nil,
     doc="data credits (16 bytes each) allocated so far, modulo 65536"},
    {abbrev="oisa.used", name="used", type="uint16", offset=12, length=2, shift=0, bits=16, le=false, base=base.DEC, values=nil,
     doc="payload bytes in use; the rest is zero padding"},
    {abbrev="oisa.first_msg", name="first_msg", type="uint16", offset=14, length=2, shift=0, bits=16, le=false, base=base.DEC, values=nil,
     doc="offset in the payload of the first message that starts here; 0xFFFF none"},
  },
  credit_entry = {
    {abbrev="oisa.entry.vc", name="vc", type="uint8", offset=0, length=1, shift=5, bits=3, le=false, base=base.DEC, values=nil,
     doc="virtual channel"},
    {abbrev="oisa.entry.fc_class", name="fc_class", type="uint8", offset=0, length=1, shift=3, bits=2, le=false, base=base.DEC, values=VALUES.FcClass,
     doc="0 posted, 1 non-posted, 2 completion"},
    {abbrev="oisa.entry.reserved", name="reserved", type="uint24", offset=0, length=3, shift=4, bits=15, le=false, base=base.DEC, values=nil,
     doc="must be zero"},
    {abbrev="oisa.entry.hdr", name="hdr", type="uint16", offset=2, length=2, shift=0, bits=12, le=false, base=base.DEC, values=nil,
     doc="header credits (INIT_FC: initial, 0 = infinite; CREDIT: cumulative)"},
    {abbrev="oisa.entry.data", name="data", type="uint16", offset=4, length=2, shift=0, bits=16, le=false, base=base.DEC, values=nil,
     doc="data credits of 16 bytes (INIT_FC: initial, 0 = infinite; CREDIT: cumulative)"},
  },
  message_header = {
    {abbrev="oisa.opcode", name="opcode", type="uint8", offset=0, length=1, shift=0, bits=8, le=false, base=base.HEX, values=VALUES.Opcode,
     doc="message type (opcode table)"},
    {abbrev="oisa.tc", name="tc", type="uint8", offset=1, length=1, shift=5, bits=3, le=false, base=base.DEC, values=nil,
     doc="traffic class 0-7; the link maps it to a virtual channel"},
    {abbrev="oisa.ns", name="ns", type="bool", offset=1, length=1, shift=4, bits=1, le=false, base=base.DEC, values=nil,
     doc="no snoop (PCIe Attr[0])"},
    {abbrev="oisa.ro", name="ro", type="bool", offset=1, length=1, shift=3, bits=1, le=false, base=base.DEC, values=nil,
     doc="relaxed ordering: may pass earlier posted requests (PCIe Attr[1])"},
    {abbrev="oisa.ido", name="ido", type="bool", offset=1, length=1, shift=2, bits=1, le=false, base=base.DEC, values=nil,
     doc="ID-based ordering: ordered only against messages of the same source (PCIe Attr[2])"},
    {abbrev="oisa.ep", name="ep", type="bool", offset=1, length=1, shift=1, bits=1, le=false, base=base.DEC, values=nil,
     doc="poisoned: the payload is known to be bad (PCIe EP, CXL poison)"},
    {abbrev="oisa.ec", name="ec", type="bool", offset=1, length=1, shift=0, bits=1, le=false, base=base.DEC, values=nil,
     doc="early completion: on a request, permitted; on a completion, given early"},
    {abbrev="oisa.aux", name="aux", type="uint8", offset=2, length=1, shift=0, bits=8, le=false, base=base.DEC, values=nil,
     doc="per opcode: completion status, message code, CXL response opcode; else 0"},
    {abbrev="oisa.load", name="load", type="uint8", offset=3, length=1, shift=5, bits=3, le=false, base=base.DEC, values=nil,
     doc="telemetry: worst congestion seen on the path, 0 (idle) to 7 (saturated)"},
    {abbrev="oisa.hops", name="hops", type="uint8", offset=3, length=1, shift=0, bits=5, le=false, base=base.DEC, values=nil,
     doc="telemetry: switches traversed so far"},
    {abbrev="oisa.src", name="src", type="uint16", offset=4, length=2, shift=0, bits=16, le=false, base=base.DEC, values=nil,
     doc="id of the sending card or switch"},
    {abbrev="oisa.dst", name="dst", type="uint16", offset=6, length=2, shift=0, bits=16, le=false, base=base.DEC, values=nil,
     doc="id of the receiving card or switch"},
    {abbrev="oisa.tag", name="tag", type="uint16", offset=8, length=2, shift=0, bits=16, le=false, base=base.DEC, values=nil,
     doc="matches completions to their request; unique per source among outstanding requests"},
    {abbrev="oisa.length", name="length", type="uint16", offset=10, length=2, shift=0, bits=16, le=false, base=base.DEC, values=nil,
     doc="bytes of payload, or bytes asked for by a read (at most 4096)"},
    {abbrev="oisa.reserved", name="reserved", type="uint8", offset=12, length=1, shift=1, bits=7, le=false, base=base.DEC, values=nil,
     doc="must be zero"},
    {abbrev="oisa.address", name="address", type="uint64", offset=12, length=8, shift=0, bits=57, le=false, base=base.HEX, values=nil,
     doc="byte address in the target's memory (57 bits, as UALink)"},
  },
  coll_ext = {
    {abbrev="oisa.coll.group", name="group", type="uint16", offset=0, length=2, shift=0, bits=16, le=false, base=base.DEC, values=nil,
     doc="collective group; the switch knows its members"},
    {abbrev="oisa.coll.members", name="members", type="uint16", offset=2, length=2, shift=0, bits=16, le=false, base=base.DEC, values=nil,
     doc="contributions the switch waits for before it reduces"},
    {abbrev="oisa.coll.op", name="op", type="uint8", offset=4, length=1, shift=0, bits=8, le=false, base=base.DEC, values=VALUES.CollOp,
     doc="reduction: 0 sum, 1 prod, 2 min, 3 max"},
    {abbrev="oisa.coll.dtype", name="dtype", type="uint8", offset=5, length=1, shift=0, bits=8, le=false, base=base.HEX, values=VALUES.CollDtype,
     doc="element type (low nibble = log2 of the element size)"},
    {abbrev="oisa.coll.reserved", name="reserved", type="uint16", offset=6, length=2, shift=0, bits=16, le=false, base=base.DEC, values=nil,
     doc="must be zero"},
  },
  tlp_dw0 = {
    {abbrev="oisa_tlp.fmt", name="fmt", type="uint8", offset=0, length=1, shift=5, bits=3, le=false, base=base.HEX, values=nil,
     doc="Fmt: 000 3DW no data, 001 4DW no data, 010 3DW with data, 011 4DW with data"},
    {abbrev="oisa_tlp.type", name="type", type="uint8", offset=0, length=1, shift=0, bits=5, le=false, base=base.HEX, values=nil,
     doc="Type; with Fmt it names the kind; for Msg/MsgD the low 3 bits are the routing r[2:0]"},
    {abbrev="oisa_tlp.t9", name="t9", type="bool", offset=1, length=1, shift=7, bits=1, le=false, base=base.DEC, values=nil,
     doc="Tag[9] of a 10-bit tag"},
    {abbrev="oisa_tlp.tc", name="tc", type="uint8", offset=1, length=1, shift=4, bits=3, le=false, base=base.DEC, values=nil,
     doc="Traffic Class; IO and configuration requests use 0"},
    {abbrev="oisa_tlp.t8", name="t8", type="bool", offset=1, length=1, shift=3, bits=1, le=false, base=base.DEC, values=nil,
     doc="Tag[8] of a 10-bit tag"},
    {abbrev="oisa_tlp.attr2", name="attr2", type="bool", offset=1, length=1, shift=2, bits=1, le=false, base=base.DEC, values=nil,
     doc="Attr[2], ID-Based Ordering (IDO); reserved in IO requests"},
    {abbrev="oisa_tlp.ln", name="ln", type="bool", offset=1, length=1, shift=1, bits=1, le=false, base=base.DEC, values=nil,
     doc="Lightweight Notification; reserved in IO and configuration requests"},
    {abbrev="oisa_tlp.th", name="th", type="bool", offset=1, length=1, shift=0, bits=1, le=false, base=base.DEC, values=nil,
     doc="TLP Processing Hints: the PH bits are valid; reserved in IO and configuration requests"},
    {abbrev="oisa_tlp.td", name="td", type="bool", offset=2, length=1, shift=7, bits=1, le=false, base=base.DEC, values=nil,
     doc="TLP Digest: a 4-byte ECRC follows the data"},
    {abbrev="oisa_tlp.ep", name="ep", type="bool", offset=2, length=1, shift=6, bits=1, le=false, base=base.DEC, values=nil,
     doc="Poisoned: the data are known to be bad"},
    {abbrev="oisa_tlp.attr", name="attr", type="uint8", offset=2, length=1, shift=4, bits=2, le=false, base=base.DEC, values=nil,
     doc="Attr[1:0]: Relaxed Ordering (bit 13), No Snoop (bit 12)"},
    {abbrev="oisa_tlp.at", name="at", type="uint8", offset=2, length=1, shift=2, bits=2, le=false, base=base.DEC, values=nil,
     doc="Address Type: 00 untranslated, 01 translation request, 10 translated"},
    {abbrev="oisa_tlp.length", name="length", type="uint16", offset=2, length=2, shift=0, bits=10, le=false, base=base.DEC, values=nil,
     doc="double words of data (or asked for by a read); 0 means 1024; reserved in Cpl, CplLk, Msg"},
  },
  tlp_request = {
    {abbrev="oisa_tlp.request.requester_id", name="requester_id", type="uint16", offset=4, length=2, shift=0, bits=16, le=false, base=base.HEX, values=nil,
     doc="Requester ID: bus[15:8], device[7:3], function[2:0]"},
    {abbrev="oisa_tlp.request.tag", name="tag", type="uint8", offset=6, length=1, shift=0, bits=8, le=false, base=base.DEC, values=nil,
     doc="Tag[7:0]; with T9 and T8 a 10-bit tag"},
    {abbrev="oisa_tlp.request.last_be", name="last_be", type="uint8", offset=7, length=1, shift=4, bits=4, le=false, base=base.HEX, values=nil,
     doc="Last DW Byte Enables (0000 when Length is 1)"},
    {abbrev="oisa_tlp.request.first_be", name="first_be", type="uint8", offset=7, length=1, shift=0, bits=4, le=false, base=base.HEX, values=nil,
     doc="First DW Byte Enables"},
    {abbrev="oisa_tlp.request.address", name="address", type="uint32", offset=8, length=4, shift=2, bits=30, le=false, base=base.HEX, values=nil,
     doc="Address[31:2]: the byte address of a double word, shifted right by 2"},
    {abbrev="oisa_tlp.request.ph", name="ph", type="uint8", offset=11, length=1, shift=0, bits=2, le=false, base=base.DEC, values=nil,
     doc="Processing Hint when TH is 1; reserved (0) when TH is 0"},
  },
  tlp_request64 = {
    {abbrev="oisa_tlp.request64.requester_id", name="requester_id", type="uint16", offset=4, length=2, shift=0, bits=16, le=false, base=base.HEX, values=nil,
     doc="Requester ID: bus[15:8], device[7:3], function[2:0]"},
    {abbrev="oisa_tlp.request64.tag", name="tag", type="uint8", offset=6, length=1, shift=0, bits=8, le=false, base=base.DEC, values=nil,
     doc="Tag[7:0]; with T9 and T8 a 10-bit tag"},
    {abbrev="oisa_tlp.request64.last_be", name="last_be", type="uint8", offset=7, length=1, shift=4, bits=4, le=false, base=base.HEX, values=nil,
     doc="Last DW Byte Enables (0000 when Length is 1)"},
    {abbrev="oisa_tlp.request64.first_be", name="first_be", type="uint8", offset=7, length=1, shift=0, bits=4, le=false, base=base.HEX, values=nil,
     doc="First DW Byte Enables"},
    {abbrev="oisa_tlp.request64.address", name="address", type="uint64", offset=8, length=8, shift=2, bits=62, le=false, base=base.HEX, values=nil,
     doc="Address[63:2]: bits 63:32 in DW2, bits 31:2 in DW3"},
    {abbrev="oisa_tlp.request64.ph", name="ph", type="uint8", offset=15, length=1, shift=0, bits=2, le=false, base=base.DEC, values=nil,
     doc="Processing Hint when TH is 1; reserved (0) when TH is 0"},
  },
  tlp_io = {
    {abbrev="oisa_tlp.io.requester_id", name="requester_id", type="uint16", offset=4, length=2, shift=0, bits=16, le=false, base=base.HEX, values=nil,
     doc="Requester ID: bus[15:8], device[7:3], function[2:0]"},
    {abbrev="oisa_tlp.io.tag", name="tag", type="uint8", offset=6, length=1, shift=0, bits=8, le=false, base=base.DEC, values=nil,
     doc="Tag[7:0]; with T9 and T8 a 10-bit tag"},
    {abbrev="oisa_tlp.io.last_be", name="last_be", type="uint8", offset=7, length=1, shift=4, bits=4, le=false, base=base.HEX, values=nil,
     doc="Last DW Byte Enables (0000 when Length is 1)"},
    {abbrev="oisa_tlp.io.first_be", name="first_be", type="uint8", offset=7, length=1, shift=0, bits=4, le=false, base=base.HEX, values=nil,
     doc="First DW Byte Enables"},
    {abbrev="oisa_tlp.io.address", name="address", type="uint32", offset=8, length=4, shift=2, bits=30, le=false, base=base.HEX, values=nil,
     doc="Address[31:2] of the IO double word"},
    {abbrev="oisa_tlp.io.reserved", name="reserved", type="uint8", offset=11, length=1, shift=0, bits=2, le=false, base=base.DEC, values=nil,
     doc="must be zero"},
  },
  tlp_config = {
    {abbrev="oisa_tlp.config.requester_id", name="requester_id", type="uint16", offset=4, length=2, shift=0, bits=16, le=false, base=base.HEX, values=nil,
     doc="Requester ID: bus[15:8], device[7:3], function[2:0]"},
    {abbrev="oisa_tlp.config.tag", name="tag", type="uint8", offset=6, length=1, shift=0, bits=8, le=false, base=base.DEC, values=nil,
     doc="Tag[7:0]; with T9 and T8 a 10-bit tag"},
    {abbrev="oisa_tlp.config.last_be", name="last_be", type="uint8", offset=7, length=1, shift=4, bits=4, le=false, base=base.HEX, values=nil,
     doc="Last DW Byte Enables (0000 when Length is 1)"},
    {abbrev="oisa_tlp.config.first_be", name="first_be", type="uint8", offset=7, length=1, shift=0, bits=4, le=false, base=base.HEX, values=nil,
     doc="First DW Byte Enables"},
    {abbrev="oisa_tlp.config.completer_id", name="completer_id", type="uint16", offset=8, length=2, shift=0, bits=16, le=false, base=base.HEX, values=nil,
     doc="Completer ID of the target function: bus[15:8], device[7:3], function[2:0]"},
    {abbrev="oisa_tlp.config.reserved_0", name="reserved_0", type="uint8", offset=10, length=1, shift=4, bits=4, le=false, base=base.DEC, values=nil,
     doc="must be zero"},
    {abbrev="oisa_tlp.config.ext_register", name="ext_register", type="uint8", offset=10, length=1, shift=0, bits=4, le=false, base=base.DEC, values=nil,
     doc="Extended Register Number: bits 11:8 of the configuration byte offset"},
    {abbrev="oisa_tlp.config.register", name="register", type="uint8", offset=11, length=1, shift=2, bits=6, le=false, base=base.DEC, values=nil,
     doc="Register Number: bits 7:2 of the configuration byte offset"},
    {abbrev="oisa_tlp.config.reserved_1", name="reserved_1", type="uint8", offset=11, length=1, shift=0, bits=2, le=false, base=base.DEC, values=nil,
     doc="must be zero"},
  },
  tlp_message = {
    {abbrev="oisa_tlp.message.requester_id", name="requester_id", type="uint16", offset=4, length=2, shift=0, bits=16, le=false, base=base.HEX, values=nil,
     doc="Requester ID: bus[15:8], device[7:3], function[2:0]"},
    {abbrev="oisa_tlp.message.tag", name="tag", type="uint8", offset=6, length=1, shift=0, bits=8, le=false, base=base.DEC, values=nil,
     doc="Tag[7:0]; with T9 and T8 a 10-bit tag"},
    {abbrev="oisa_tlp.message.message_code", name="message_code", type="uint8", offset=7, length=1, shift=0, bits=8, le=false, base=base.HEX, values=nil,
     doc="Message Code"},
    {abbrev="oisa_tlp.message.message_data", name="message_data", type="uint64", offset=8, length=8, shift=0, bits=64, le=false, base=base.HEX, values=nil,
     doc="DW2-DW3, defined by the message code (an address for r=001, the target ID for r=010); kept as raw bytes"},
  },
  tlp_completion = {
    {abbrev="oisa_tlp.completion.completer_id", name="completer_id", type="uint16", offset=4, length=2, shift=0, bits=16, le=false, base=base.HEX, values=nil,
     doc="Completer ID: bus[15:8], device[7:3], function[2:0]"},
    {abbrev="oisa_tlp.completion.status", name="status", type="uint8", offset=6, length=1, shift=5, bits=3, le=false, base=base.DEC, values=VALUES.CplStatus,
     doc="Completion Status: 000 SC, 001 UR, 010 CRS, 100 CA; others reserved"},
    {abbrev="oisa_tlp.completion.bcm", name="bcm", type="bool", offset=6, length=1, shift=4, bits=1, le=false, base=base.DEC, values=nil,
     doc="Byte Count Modified (set only by PCI-X completers)"},
    {abbrev="oisa_tlp.completion.byte_count", name="byte_count", type="uint16", offset=6, length=2, shift=0, bits=12, le=false, base=base.DEC, values=nil,
     doc="bytes still to be returned for the request, this TLP's included; 0 means 4096"},
    {abbrev="oisa_tlp.completion.requester_id", name="requester_id", type="uint16", offset=8, length=2, shift=0, bits=16, le=false, base=base.HEX, values=nil,
     doc="Requester ID: bus[15:8], device[7:3], function[2:0]"},
    {abbrev="oisa_tlp.completion.tag", name="tag", type="uint8", offset=10, length=1, shift=0, bits=8, le=false, base=base.DEC, values=nil,
     doc="Tag[7:0]; with T9 and T8 a 10-bit tag"},
    {abbrev="oisa_tlp.completion.reserved", name="reserved", type="bool", offset=11, length=1, shift=7, bits=1, le=false, base=base.DEC, values=nil,
     doc="must be zero"},
    {abbrev="oisa_tlp.completion.lower_address", name="lower_address", type="uint8", offset=11, length=1, shift=0, bits=7, le=false, base=base.HEX, values=nil,
     doc="Lower Address: bits 6:0 of the byte address of the first data byte"},
  },
  vdesc_header = {
    {abbrev="oisa_vdesc.magic", name="magic", type="uint16", offset=0, length=2, shift=0, bits=16, le=true, base=base.HEX, values=nil,
     doc="the bytes \"VD\" (0x4456 read little-endian): a descriptor starts here"},
    {abbrev="oisa_vdesc.version", name="version", type="uint8", offset=2, length=1, shift=0, bits=8, le=true, base=base.DEC, values=nil,
     doc="format version: 1"},
    {abbrev="oisa_vdesc.kind", name="kind", type="uint8", offset=3, length=1, shift=0, bits=8, le=true, base=base.HEX, values=VALUES.VdescType,
     doc="descriptor type (type table)"},
    {abbrev="oisa_vdesc.fence", name="fence", type="bool", offset=4, length=1, shift=0, bits=1, le=true, base=base.DEC, values=nil,
     doc="1: ordered behind the source's earlier writes; 0: relaxed, may pass them"},
    {abbrev="oisa_vdesc.id_order", name="id_order", type="bool", offset=4, length=1, shift=1, bits=1, le=true, base=base.DEC, values=nil,
     doc="ordered only against descriptors from the same source"},
    {abbrev="oisa_vdesc.poison", name="poison", type="bool", offset=4, length=1, shift=2, bits=1, le=true, base=base.DEC, values=nil,
     doc="the payload is known to be bad"},
    {abbrev="oisa_vdesc.early_ack", name="early_ack", type="bool", offset=4, length=1, shift=3, bits=1, le=true, base=base.DEC, values=nil,
     doc="on a request: an early WRITE_ACK is allowed; on a WRITE_ACK: it was given early"},
    {abbrev="oisa_vdesc.no_snoop", name="no_snoop", type="bool", offset=4, length=1, shift=4, bits=1, le=true, base=base.DEC, values=nil,
     doc="the target memory needs no cache snoop"},
    {abbrev="oisa_vdesc.reserved_0", name="reserved_0", type="uint8", offset=4, length=1, shift=5, bits=3, le=true, base=base.DEC, values=nil,
     doc="must be zero"},
    {abbrev="oisa_vdesc.priority", name="priority", type="uint8", offset=5, length=1, shift=0, bits=3, le=true, base=base.DEC, values=nil,
     doc="priority 0 (lowest) to 7"},
    {abbrev="oisa_vdesc.reserved_1", name="reserved_1", type="uint8", offset=5, length=1, shift=3, bits=5, le=true, base=base.DEC, values=nil,
     doc="must be zero"},
    {abbrev="oisa_vdesc.status", name="status", type="uint8", offset=6, length=1, shift=0, bits=8, le=true, base=base.DEC, values=VALUES.VdescStatus,
     doc="responses: outcome (status table); requests: 0 (OK)"},
    {abbrev="oisa_vdesc.code", name="code", type="uint8", offset=7, length=1, shift=0, bits=8, le=true, base=base.HEX, values=nil,
     doc="NOTIFY: message code; every other type: 0"},
    {abbrev="oisa_vdesc.src", name="src", type="uint16", offset=8, length=2, shift=0, bits=16, le=true, base=base.DEC, values=nil,
     doc="device id of the sender"},
    {abbrev="oisa_vdesc.dst", name="dst", type="uint16", offset=10, length=2, shift=0, bits=16, le=true, base=base.DEC, values=nil,
     doc="device id of the receiver"},
    {abbrev="oisa_vdesc.txn_id", name="txn_id", type="uint32", offset=12, length=4, shift=0, bits=32, le=true, base=base.HEX, values=nil,
     doc="transaction id; responses carry their request's"},
    {abbrev="oisa_vdesc.address", name="address", type="uint64", offset=16, length=8, shift=0, bits=57, le=true, base=base.HEX, values=nil,
     doc="byte address in the target's memory (NOTIFY: message-specific data)"},
    {abbrev="oisa_vdesc.reserved_2", name="reserved_2", type="uint8", offset=23, length=1, shift=1, bits=7, le=true, base=base.DEC, values=nil,
     doc="must be zero"},
    {abbrev="oisa_vdesc.length", name="length", type="uint32", offset=24, length=4, shift=0, bits=32, le=true, base=base.DEC, values=nil,
     doc="bytes of payload, or bytes a read asks for (at most 4096)"},
    {abbrev="oisa_vdesc.congestion", name="congestion", type="uint8", offset=28, length=1, shift=0, bits=3, le=true, base=base.DEC, values=nil,
     doc="telemetry: worst congestion on the path, 0 (idle) to 7 (saturated)"},
    {abbrev="oisa_vdesc.hops", name="hops", type="uint8", offset=28, length=1, shift=3, bits=5, le=true, base=base.DEC, values=nil,
     doc="telemetry: switches traversed"},
    {abbrev="oisa_vdesc.reserved_3", name="reserved_3", type="uint24", offset=29, length=3, shift=0, bits=24, le=true, base=base.DEC, values=nil,
     doc="must be zero"},
  },
  vdesc_reduce = {
    {abbrev="oisa_vdesc.reduce.group", name="group", type="uint16", offset=0, length=2, shift=0, bits=16, le=true, base=base.DEC, values=nil,
     doc="collective group; the switch knows its members"},
    {abbrev="oisa_vdesc.reduce.members", name="members", type="uint16", offset=2, length=2, shift=0, bits=16, le=true, base=base.DEC, values=nil,
     doc="contributions the switch waits for before it reduces (at least 1)"},
    {abbrev="oisa_vdesc.reduce.op", name="op", type="uint8", offset=4, length=1, shift=0, bits=8, le=true, base=base.DEC, values=VALUES.ReduceOp,
     doc="reduction (op table)"},
    {abbrev="oisa_vdesc.reduce.dtype", name="dtype", type="uint8", offset=5, length=1, shift=0, bits=8, le=true, base=base.HEX, values=VALUES.ReduceDtype,
     doc="element type (dtype table); length is a whole number of elements"},
    {abbrev="oisa_vdesc.reduce.reserved", name="reserved", type="uint16", offset=6, length=2, shift=0, bits=16, le=true, base=base.DEC, values=nil,
     doc="must be zero"},
  },
  cxl_class = {
    {abbrev="oisa_cxl.class", name="class", type="uint8", offset=0, length=1, shift=0, bits=8, le=true, base=base.DEC, values=VALUES.MemClass,
     doc="message class: 1 M2S Req, 2 M2S RwD, 3 S2M NDR, 4 S2M DRS (our framing, not the spec's)"},
  },
  cxl_m2s_req = {
    {abbrev="oisa_cxl.m2s_req.valid", name="valid", type="bool", offset=1, length=1, shift=0, bits=1, le=true, base=base.DEC, values=nil,
     doc="1: this position holds a message; 0: the position is empty"},
    {abbrev="oisa_cxl.m2s_req.mem_opcode", name="mem_opcode", type="uint8", offset=1, length=1, shift=1, bits=4, le=true, base=base.HEX, values=VALUES.M2SReqOpcode,
     doc="memory operation (M2S Req opcode table)"},
    {abbrev="oisa_cxl.m2s_req.snp_type", name="snp_type", type="uint8", offset=1, length=1, shift=5, bits=3, le=true, base=base.HEX, values=VALUES.SnpType,
     doc="snoop first: 0 No-Op, 1 SnpData, 2 SnpCur, 3 SnpInv (4-7 reserved)"},
    {abbrev="oisa_cxl.m2s_req.meta_field", name="meta_field", type="uint8", offset=2, length=1, shift=0, bits=2, le=true, base=base.DEC, values=nil,
     doc="metadata field: 0 Meta0-State, 3 No-Op (1, 2 reserved)"},
    {abbrev="oisa_cxl.m2s_req.meta_value", name="meta_value", type="uint8", offset=2, length=1, shift=2, bits=2, le=true, base=base.DEC, values=nil,
     doc="Meta0-State to set: 0 I, 2 A, 3 S (1 reserved; 0 when MetaField is No-Op)"},
    {abbrev="oisa_cxl.m2s_req.tag", name="tag", type="uint24", offset=2, length=3, shift=4, bits=16, le=true, base=base.DEC, values=nil,
     doc="requester's tracking entry; responses reflect it"},
    {abbrev="oisa_cxl.m2s_req.address", name="address", type="uint64", offset=4, length=7, shift=4, bits=47, le=true, base=base.HEX, values=nil,
     doc="Address[51:5]: host physical address of the 32-byte half line"},
    {abbrev="oisa_cxl.m2s_req.tc", name="tc", type="uint8", offset=10, length=1, shift=3, bits=2, le=true, base=base.DEC, values=nil,
     doc="traffic class, reserved by the spec for future QoS use; carried as is"},
    {abbrev="oisa_cxl.m2s_req.ld_id", name="ld_id", type="uint16", offset=10, length=2, shift=5, bits=4, le=true, base=base.HEX, values=nil,
     doc="LD-ID[3:0]: logical device within a multi-logical device"},
    {abbrev="oisa_cxl.m2s_req.reserved", name="reserved", type="uint8", offset=11, length=1, shift=1, bits=6, le=true, base=base.DEC, values=nil,
     doc="must be zero"},
    {abbrev="oisa_cxl.m2s_req.pad", name="pad", type="bool", offset=11, length=1, shift=7, bits=1, le=true, base=base.DEC, values=nil,
     doc="zero bits up to a whole byte"},
  },
  cxl_m2s_rwd = {
    {abbrev="oisa_cxl.m2s_rwd.valid", name="valid", type="bool", offset=1, length=1, shift=0, bits=1, le=true, base=base.DEC, values=nil,
     doc="1: this position holds a message; 0: the position is empty"},
    {abbrev="oisa_cxl.m2s_rwd.mem_opcode", name="mem_opcode", type="uint8", offset=1, length=1, shift=1, bits=4, le=true, base=base.HEX, values=VALUES.M2SRwDOpcode,
     doc="memory operation: 1 MemWr, 2 MemWrPtl (others reserved)"},
    {abbrev="oisa_cxl.m2s_rwd.snp_type", name="snp_type", type="uint8", offset=1, length=1, shift=5, bits=3, le=true, base=base.HEX, values=VALUES.SnpType,
     doc="snoop first: 0 No-Op, 1 SnpData, 2 SnpCur, 3 SnpInv (4-7 reserved)"},
    {abbrev="oisa_cxl.m2s_rwd.meta_field", name="meta_field", type="uint8", offset=2, length=1, shift=0, bits=2, le=true, base=base.DEC, values=nil,
     doc="metadata field: 0 Meta0-State, 3 No-Op (1, 2 reserved)"},
    {abbrev="oisa_cxl.m2s_rwd.meta_value", name="meta_value", type="uint8", offset=2, length=1, shift=2, bits=2, le=true, base=base.DEC, values=nil,
     doc="Meta0-State to set: 0 I, 2 A, 3 S (1 reserved; 0 when MetaField is No-Op)"},
    {abbrev="oisa_cxl.m2s_rwd.tag", name="tag", type="uint24", offset=2, length=3, shift=4, bits=16, le=true, base=base.DEC, values=nil,
     doc="requester's tracking entry; responses reflect it"},
    {abbrev="oisa_cxl.m2s_rwd.address", name="address", type="uint64", offset=4, length=7, shift=4, bits=46, le=true, base=base.HEX, values=nil,
     doc="Address[51:6]: host physical address of the 64-byte line"},
    {abbrev="oisa_cxl.m2s_rwd.poison", name="poison", type="bool", offset=10, length=1, shift=2, bits=1, le=true, base=base.DEC, values=nil,
     doc="the data is known to be bad"},
    {abbrev="oisa_cxl.m2s_rwd.tc", name="tc", type="uint8", offset=10, length=1, shift=3, bits=2, le=true, base=base.DEC, values=nil,
     doc="traffic class, reserved by the spec for future QoS use; carried as is"},
    {abbrev="oisa_cxl.m2s_rwd.ld_id", name="ld_id", type="uint16", offset=10, length=2, shift=5, bits=4, le=true, base=base.HEX, values=nil,
     doc="LD-ID[3:0]: logical device within a multi-logical device"},
    {abbrev="oisa_cxl.m2s_rwd.reserved", name="reserved", type="uint8", offset=11, length=1, shift=1, bits=6, le=true, base=base.DEC, values=nil,
     doc="must be zero"},
    {abbrev="oisa_cxl.m2s_rwd.pad", name="pad", type="bool", offset=11, length=1, shift=7, bits=1, le=true, base=base.DEC, values=nil,
     doc="zero bits up to a whole byte"},
    {abbrev="oisa_cxl.m2s_rwd.data", name="data", type="bytes", offset=12, length=64, shift=0, bits=512, le=true, base=base.DEC, values=nil,
     doc="the 64-byte line, byte 0 first"},
    {abbrev="oisa_cxl.m2s_rwd.byte_enable", name="byte_enable", type="uint64", offset=76, length=8, shift=0, bits=64, le=true, base=base.HEX, values=nil,
     doc="bit i enables data byte i"},
  },
  cxl_s2m_ndr = {
    {abbrev="oisa_cxl.s2m_ndr.valid", name="valid", type="bool", offset=1, length=1, shift=0, bits=1, le=true, base=base.DEC, values=nil,
     doc="1: this position holds a message; 0: the position is empty"},
    {abbrev="oisa_cxl.s2m_ndr.opcode", name="opcode", type="uint8", offset=1, length=1, shift=1, bits=3, le=true, base=base.HEX, values=VALUES.S2MNDROpcode,
     doc="completion: 0 Cmp, 1 Cmp-S, 2 Cmp-E (others reserved)"},
    {abbrev="oisa_cxl.s2m_ndr.meta_field", name="meta_field", type="uint8", offset=1, length=1, shift=4, bits=2, le=true, base=base.DEC, values=nil,
     doc="metadata field: 0 Meta0-State, 3 No-Op (1, 2 reserved)"},
    {abbrev="oisa_cxl.s2m_ndr.meta_value", name="meta_value", type="uint8", offset=1, length=1, shift=6, bits=2, le=true, base=base.DEC, values=nil,
     doc="Meta0-State read from memory (don't care when MetaField is No-Op)"},
    {abbrev="oisa_cxl.s2m_ndr.tag", name="tag", type="uint16", offset=2, length=2, shift=0, bits=16, le=true, base=base.DEC, values=nil,
     doc="requester's tracking entry; responses reflect it"},
    {abbrev="oisa_cxl.s2m_ndr.ld_id", name="ld_id", type="uint8", offset=4, length=1, shift=0, bits=4, le=true, base=base.HEX, values=nil,
     doc="LD-ID[3:0]: logical device within a multi-logical device"},
    {abbrev="oisa_cxl.s2m_ndr.dev_load", name="dev_load", type="uint8", offset=4, length=1, shift=4, bits=2, le=true, base=base.DEC, values=VALUES.DevLoad,
     doc="device load: 0 light, 1 optimal, 2 moderate overload, 3 severe"},
    {abbrev="oisa_cxl.s2m_ndr.pad", name="pad", type="uint8", offset=4, length=1, shift=6, bits=2, le=true, base=base.DEC, values=nil,
     doc="zero bits up to a whole byte"},
  },
  cxl_s2m_drs = {
    {abbrev="oisa_cxl.s2m_drs.valid", name="valid", type="bool", offset=1, length=1, shift=0, bits=1, le=true, base=base.DEC, values=nil,
     doc="1: this position holds a message; 0: the position is empty"},
    {abbrev="oisa_cxl.s2m_drs.opcode", name="opcode", type="uint8", offset=1, length=1, shift=1, bits=3, le=true, base=base.HEX, values=VALUES.S2MDRSOpcode,
     doc="data response: 0 MemData (others reserved)"},
    {abbrev="oisa_cxl.s2m_drs.meta_field", name="meta_field", type="uint8", offset=1, length=1, shift=4, bits=2, le=true, base=base.DEC, values=nil,
     doc="metadata field: 0 Meta0-State, 3 No-Op (1, 2 reserved)"},
    {abbrev="oisa_cxl.s2m_drs.meta_value", name="meta_value", type="uint8", offset=1, length=1, shift=6, bits=2, le=true, base=base.DEC, values=nil,
     doc="Meta0-State read from memory (don't care when MetaField is No-Op)"},
    {abbrev="oisa_cxl.s2m_drs.tag", name="tag", type="uint16", offset=2, length=2, shift=0, bits=16, le=true, base=base.DEC, values=nil,
     doc="requester's tracking entry; responses reflect it"},
    {abbrev="oisa_cxl.s2m_drs.poison", name="poison", type="bool", offset=4, length=1, shift=0, bits=1, le=true, base=base.DEC, values=nil,
     doc="the data is known to be bad"},
    {abbrev="oisa_cxl.s2m_drs.ld_id", name="ld_id", type="uint8", offset=4, length=1, shift=1, bits=4, le=true, base=base.HEX, values=nil,
     doc="LD-ID[3:0]: logical device within a multi-logical device"},
    {abbrev="oisa_cxl.s2m_drs.dev_load", name="dev_load", type="uint8", offset=4, length=1, shift=5, bits=2, le=true, base=base.DEC, values=VALUES.DevLoad,
     doc="device load: 0 light, 1 optimal, 2 moderate overload, 3 severe"},
    {abbrev="oisa_cxl.s2m_drs.reserved", name="reserved", type="uint16", offset=4, length=2, shift=7, bits=9, le=true, base=base.DEC, values=nil,
     doc="must be zero"},
    {abbrev="oisa_cxl.s2m_drs.data", name="data", type="bytes", offset=6, length=64, shift=0, bits=512, le=true, base=base.DEC, values=nil,
     doc="the 64-byte line, byte 0 first"},
  },
}
-- end generated

local oisa = Proto("oisa", "OISA link and transaction layers")
local oisa_msg = Proto("oisa_msg", "OISA message (whole)")
local oisa_tlp = Proto("oisa_tlp", "PCIe TLP (oisa native frame)")
local oisa_cxl = Proto("oisa_cxl", "CXL.mem message (oisa native frame)")
local oisa_vdesc = Proto("oisa_vdesc", "Vendor frame (oisa native; VDESC descriptor)")
local PROTOS = {oisa = oisa, oisa_tlp = oisa_tlp, oisa_cxl = oisa_cxl, oisa_vdesc = oisa_vdesc}

-- Fields ---------------------------------------------------------------------------------------

local PF = {}   -- abbreviation -> ProtoField
local BY = {}   -- layout key -> field name -> field description
local fields_of = {oisa = {}, oisa_tlp = {}, oisa_cxl = {}, oisa_vdesc = {}}

local function register(proto_name, abbrev, field)
  PF[abbrev] = field
  table.insert(fields_of[proto_name], field)
end

local function protofield(f)
  if f.type == "bytes" then
    return ProtoField.bytes(f.abbrev, f.name, base.NONE, f.doc)
  elseif f.type == "bool" then
    return ProtoField.bool(f.abbrev, f.name, f.length * 8, nil, 2 ^ f.shift, f.doc)
  elseif f.type == "uint64" then
    return ProtoField.uint64(f.abbrev, f.name, f.base, nil, nil, f.doc)
  end
  local mask = nil
  if f.bits ~= f.length * 8 then mask = (2 ^ f.bits - 1) * 2 ^ f.shift end
  return ProtoField[f.type](f.abbrev, f.name, f.base, f.values, mask, f.doc)
end

for key, layout in pairs(LAYOUTS) do
  BY[key] = {}
  for _, f in ipairs(layout) do
    BY[key][f.name] = f
    register(f.abbrev:match("^[^.]+"), f.abbrev, protofield(f))
  end
end

local CRC_STATUS = {[0] = "Bad", [1] = "Good"}
register("oisa", "oisa.crc", ProtoField.uint32("oisa.crc", "crc", base.HEX, nil, nil,
  "CRC-32 (zlib) over all bytes of the flit before it"))
register("oisa", "oisa.crc.status", ProtoField.uint8("oisa.crc.status", "crc status", base.DEC, CRC_STATUS))
register("oisa", "oisa.padding", ProtoField.bytes("oisa.padding", "padding", base.NONE,
  "payload bytes after the used ones (zero)"))
register("oisa", "oisa.accepted", ProtoField.bool("oisa.accepted", "accepted", base.NONE, nil, nil,
  "the receiving end takes this data flit into its message stream (good CRC, next in sequence)"))
register("oisa", "oisa.continuation", ProtoField.uint16("oisa.continuation", "continuation", base.DEC, nil, nil,
  "stream bytes at the start of the payload that finish a message begun in an earlier flit"))
register("oisa", "oisa.carried", ProtoField.uint16("oisa.carried", "carried", base.DEC, nil, nil,
  "stream bytes at the end of the payload whose message ends in a later flit"))
register("oisa", "oisa.begun_in", ProtoField.framenum("oisa.begun_in", "begun in", base.NONE, nil, nil,
  "the flit in which this message began"))
register("oisa", "oisa.payload", ProtoField.bytes("oisa.payload", "payload", base.NONE, "message payload"))
register("oisa_tlp", "oisa_tlp.data", ProtoField.bytes("oisa_tlp.data", "data", base.NONE, "TLP data"))
register("oisa_tlp", "oisa_tlp.ecrc", ProtoField.uint32("oisa_tlp.ecrc", "ecrc", base.HEX, nil, nil,
  "ECRC (TLP digest), little-endian"))
register("oisa_vdesc", "oisa_vdesc.payload", ProtoField.bytes("oisa_vdesc.payload", "payload", base.NONE,
  "descriptor payload"))
register("oisa_vdesc", "oisa_vdesc.crc", ProtoField.uint32("oisa_vdesc.crc", "crc", base.HEX, nil, nil,
  "CRC-32C of every byte before it, little-endian"))
register("oisa_vdesc", "oisa_vdesc.crc.status", ProtoField.uint8("oisa_vdesc.crc.status", "crc status",
  base.DEC, CRC_STATUS))

local E = {
  bad_crc = ProtoExpert.new("oisa.crc.bad", "Bad CRC: the receiving end drops this flit",
    expert.group.CHECKSUM, expert.severity.ERROR),
  discarded = ProtoExpert.new("oisa.discarded", "Not taken into the message stream",
    expert.group.SEQUENCE, expert.severity.NOTE),
  malformed = ProtoExpert.new("oisa.malformed", "Malformed", expert.group.MALFORMED, expert.severity.ERROR),
  truncated = ProtoExpert.new("oisa.truncated", "Not all bytes captured",
    expert.group.UNDECODED, expert.severity.NOTE),
  vdesc_bad_crc = ProtoExpert.new("oisa_vdesc.crc.bad", "Bad CRC-32C",
    expert.group.CHECKSUM, expert.severity.ERROR),
}
oisa.experts = {E.bad_crc, E.discarded, E.malformed, E.truncated}
oisa_vdesc.experts = {E.vdesc_bad_crc}
for name, proto in pairs(PROTOS) do proto.fields = fields_of[name] end

-- Helpers ----------------------------------------------------------------------------------------

local function value(tvb, offset, f)
  -- a field of at most 32 bits, as a number
  local range = tvb(offset + f.offset, f.length)
  local raw = f.le and range:le_uint() or range:uint()
  return math.floor(raw / 2 ^ f.shift) % 2 ^ f.bits
end

local function bytes_value(ba, offset, f)
  -- the same, read from a ByteArray (big-endian layouts only)
  local raw = 0
  for i = 0, f.length - 1 do raw = raw * 256 + ba:get_index(offset + f.offset + i) end
  return math.floor(raw / 2 ^ f.shift) % 2 ^ f.bits
end

local function mask64(bits)
  if bits >= 32 then return UInt64.new(0xFFFFFFFF, 2 ^ (bits - 32) - 1) end
  return UInt64.new(2 ^ bits - 1, 0)
end

local function add_layout(tree, tvb, offset, key)
  for _, f in ipairs(LAYOUTS[key]) do
    local range = tvb(offset + f.offset, f.length)
    if f.type == "uint64" then
      local raw = f.le and range:le_uint64() or range:uint64()
      tree:add(PF[f.abbrev], range, raw:rshift(f.shift):band(mask64(f.bits)))
    elseif f.le then
      tree:add_le(PF[f.abbrev], range)
    else
      tree:add(PF[f.abbrev], range)
    end
  end
end

local function crc_table(poly)
  local t = {}
  for i = 0, 255 do
    local c = i
    for _ = 1, 8 do
      if c % 2 == 1 then c = bit.bxor(bit.rshift(c, 1), poly) else c = bit.rshift(c, 1) end
    end
    t[i] = c
  end
  return t
end

local CRC32, CRC32C = crc_table(0xEDB88320), crc_table(0x82F63B78)

local function crc(t, tvb, length)
  local c = 0xFFFFFFFF
  local ba = tvb:bytes(0, length)
  for i = 0, length - 1 do
    c = bit.bxor(t[bit.band(bit.bxor(c, ba:get_index(i)), 0xFF)], bit.rshift(c, 8))
  end
  return bit.bxor(c, 0xFFFFFFFF) % 4294967296
end

local function add_crc(tree, tvb, offset, computed, little, pf, status_pf, bad)
  local range = tvb(offset, 4)
  local stored = little and range:le_uint() or range:uint()
  local item = little and tree:add_le(pf, range) or tree:add(pf, range)
  local good = stored == computed
  tree:add(status_pf, range, good and 1 or 0):set_generated()
  if not good then
    item:add_proto_expert_info(bad, string.format("Bad CRC: 0x%08x, computed 0x%08x", stored, computed))
  end
  return good
end

local interface_name = Field.new("frame.interface_name")

-- Source and destination columns: an interface named "a->b" is the wire from node a to node b;
-- one named "card:family" is the card's adapter (the packet's direction is as the card sees it).
local function set_ends(pinfo)
  local field = interface_name()
  local name = field and tostring(field()) or ""
  local from, to = name:match("^(.-)%->(.*)$")
  if not from then
    local card = name:match("^(.-):")
    if not card then return end
    from, to = card, name
    if pinfo.p2p_dir == 1 then from, to = to, from end
  end
  pinfo.cols.src, pinfo.cols.dst = from, to
end

local function name_of(values, v)
  return values[v] or string.format("0x%02x", v)
end

-- OISA messages ------------------------------------------------------------------------------------

local H = BY.message_header

local function message_size(opcode, length)
  if not C.OPCODES[opcode] then return nil end
  local size = C.MESSAGE_HEADER_SIZE
  if opcode == C.COLL_REDUCE then size = size + C.COLL_EXT_SIZE end
  if C.OPCODES_WITH_PAYLOAD[opcode] then size = size + length end
  return size
end

local function dissect_message(tvb, pinfo, tree, label)
  local item = tree:add(oisa, tvb(), label)
  if tvb:len() < C.MESSAGE_HEADER_SIZE then
    item:add_proto_expert_info(E.truncated, "Shorter than a message header")
    return "?"
  end
  add_layout(item, tvb, 0, "message_header")
  local opcode, length = value(tvb, 0, H.opcode), value(tvb, 0, H.length)
  local pos = C.MESSAGE_HEADER_SIZE
  if opcode == C.COLL_REDUCE and tvb:len() >= pos + C.COLL_EXT_SIZE then
    add_layout(item, tvb, pos, "coll_ext")
    pos = pos + C.COLL_EXT_SIZE
  end
  if C.OPCODES_WITH_PAYLOAD[opcode] and length > 0 then
    local have = math.min(length, tvb:len() - pos)
    if have > 0 then item:add(PF["oisa.payload"], tvb(pos, have)) end
    if have < length then
      item:add_proto_expert_info(E.truncated, string.format("%d of %d payload bytes captured", have, length))
    end
  end
  local summary = string.format("%s %d->%d tag %d len %d", name_of(VALUES.Opcode, opcode), value(tvb, 0, H.src),
    value(tvb, 0, H.dst), value(tvb, 0, H.tag), length)
  item:append_text(": " .. summary)
  return summary
end

function oisa_msg.dissector(tvb, pinfo, tree)
  pinfo.cols.protocol = "OISA"
  set_ends(pinfo)
  pinfo.cols.info = dissect_message(tvb, pinfo, tree, "OISA message")
end

-- OISA flits and the message stream ----------------------------------------------------------------

local F = BY.flit_header
local interface_id = Field.new("frame.interface_id")
local streams, results = {}, {}

function oisa.init()
  streams, results = {}, {}
end

-- What the receiving end does with a data flit whose CRC is good (first pass only): take it
-- if it is the next in sequence, append its bytes to the stream and cut out whole messages.
local function take(tvb, pinfo, seq, used, first)
  local id = interface_id()()
  local s = streams[id]
  if s == nil then
    s = {synced = false}
    streams[id] = s
  end
  if s.expected ~= nil and seq ~= s.expected then
    local behind = (s.expected - seq) % C.SEQ_MODULUS
    if behind <= C.SEQ_MODULUS / 2 then
      return {accepted = false, note = "already received",
              reason = string.format("seq %d was already received (a replay or a duplicate)", seq)}
    end
    return {accepted = false, note = string.format("out of sequence, expected %d", s.expected),
            reason = string.format("seq %d is ahead of the expected %d: discarded, replayed later", seq, s.expected)}
  end
  s.expected = (seq + 1) % C.SEQ_MODULUS
  local r = {accepted = true, messages = {}, continuation = 0, carried = 0}
  local start = 0
  if not s.synced then
    if first == C.NO_MESSAGE_START then
      r.continuation = used
      return r
    end
    s.synced, s.carry, start = true, nil, first
    r.continuation = first
  end
  local carry = s.carry or ByteArray.new()
  local carried = carry:len()
  local stream = ByteArray.new()
  stream:append(carry)
  if used > start then stream:append(tvb:bytes(C.FLIT_HEADER_SIZE + start, used - start)) end
  local q, total = 0, stream:len()
  while total - q >= C.MESSAGE_HEADER_SIZE do
    local size = message_size(bytes_value(stream, q, H.opcode), bytes_value(stream, q, H.length))
    if size == nil then
      r.lost = string.format("unknown opcode 0x%02x in the stream: cannot find the next message",
        bytes_value(stream, q, H.opcode))
      s.synced, s.carry = false, nil
      return r
    end
    if total - q < size then break end
    local m = {size = size}
    if q < carried then
      m.bytes, m.begun_in = stream:subset(q, size), s.carry_from
      r.continuation = r.continuation + size - carried
    else
      m.offset = start + q - carried
    end
    table.insert(r.messages, m)
    q = q + size
  end
  if q < total then
    if q < carried then
      r.continuation = r.continuation + total - carried
      r.carried = total - carried
    else
      s.carry_from = pinfo.number
      r.carried = total - q
    end
    s.carry = stream:subset(q, total - q)
  else
    s.carry = nil
  end
  return r
end

local function dissect_entries(tvb, tree, used)
  local entries = tree:add(oisa, tvb(C.FLIT_HEADER_SIZE, used), "Credit entries")
  for pos = C.FLIT_HEADER_SIZE, C.FLIT_HEADER_SIZE + used - C.CREDIT_ENTRY_SIZE, C.CREDIT_ENTRY_SIZE do
    local e = entries:add(oisa, tvb(pos, C.CREDIT_ENTRY_SIZE), "Credit entry")
    add_layout(e, tvb, pos, "credit_entry")
  end
end

function oisa.dissector(tvb, pinfo, tree)
  pinfo.cols.protocol = "OISA"
  set_ends(pinfo)
  local size = tvb:len()
  local t = tree:add(oisa, tvb(), string.format("OISA flit, %d bytes", size))
  if size < C.FLIT_HEADER_SIZE + C.FLIT_CRC_SIZE then
    t:add_proto_expert_info(E.malformed, "Shorter than a flit header and CRC")
    return
  end
  add_layout(t, tvb, 0, "flit_header")
  local kind, code, seq = value(tvb, 0, F.kind), value(tvb, 0, F.code), value(tvb, 0, F.seq)
  local used, first = value(tvb, 0, F.used), value(tvb, 0, F.first_msg)
  local capacity = size - C.FLIT_HEADER_SIZE - C.FLIT_CRC_SIZE
  local good = add_crc(t, tvb, size - C.FLIT_CRC_SIZE, crc(CRC32, tvb, size - C.FLIT_CRC_SIZE), false,
    PF["oisa.crc"], PF["oisa.crc.status"], E.bad_crc)
  local info = {}
  if kind == C.FLIT_DATA then
    table.insert(info, string.format("DATA seq %d", seq))
  else
    table.insert(info, name_of(VALUES.ControlCode, code))
  end
  local ack_kind = value(tvb, 0, F.ack_kind)
  if ack_kind ~= 0 then
    table.insert(info, string.format("%s %d", name_of(VALUES.AckKind, ack_kind), value(tvb, 0, F.ack_seq)))
  end
  if not good then table.insert(info, "[BAD CRC]") end
  local fits = used <= capacity
  if not fits then
    t:add_proto_expert_info(E.malformed, string.format("used %d exceeds the %d-byte payload", used, capacity))
  elseif used < capacity then
    t:add(PF["oisa.padding"], tvb(C.FLIT_HEADER_SIZE + used, capacity - used))
  end
  if good and fits and C.ENTRY_CODES[code] and used > 0 then dissect_entries(tvb, t, used) end
  if kind == C.FLIT_DATA then
    if not pinfo.visited and results[pinfo.number] == nil then
      if good and fits then
        results[pinfo.number] = take(tvb, pinfo, seq, used, first)
      else
        results[pinfo.number] = {accepted = false, reason = good and "malformed: the receiving end drops it"
          or "bad CRC: the receiving end drops it", note = good and "malformed" or nil}
      end
    end
    local r = results[pinfo.number]
    if r ~= nil then
      local item = t:add(PF["oisa.accepted"], r.accepted):set_generated()
      if not r.accepted then
        item:add_proto_expert_info(E.discarded, r.reason)
        if r.note then table.insert(info, "[" .. r.note .. "]") end
      else
        if r.continuation > 0 then
          t:add(PF["oisa.continuation"], tvb(C.FLIT_HEADER_SIZE, r.continuation), r.continuation)
        end
        for _, m in ipairs(r.messages) do
          local mtvb, label
          if m.bytes then
            mtvb, label = m.bytes:tvb("Reassembled OISA message"), "OISA message (reassembled)"
          else
            mtvb, label = tvb(C.FLIT_HEADER_SIZE + m.offset, m.size):tvb(), "OISA message"
          end
          local summary = dissect_message(mtvb, pinfo, t, label)
          if m.begun_in then t:add(PF["oisa.begun_in"], m.begun_in):set_generated() end
          table.insert(info, summary)
        end
        if r.carried > 0 then
          t:add(PF["oisa.carried"], tvb(C.FLIT_HEADER_SIZE + used - r.carried, r.carried), r.carried)
        end
        if r.lost then t:add_proto_expert_info(E.malformed, r.lost) end
      end
    end
  end
  pinfo.cols.info = table.concat(info, ", ")
end

-- Native frames -------------------------------------------------------------------------------------

function oisa_tlp.dissector(tvb, pinfo, tree)
  pinfo.cols.protocol = "PCIe"
  set_ends(pinfo)
  local t = tree:add(oisa_tlp, tvb())
  if tvb:len() < 4 then return end
  add_layout(t, tvb, 0, "tlp_dw0")
  local kind = C.TLP_KINDS[tvb(0, 1):uint()]
  if kind == nil then
    t:add_proto_expert_info(E.malformed, "Unknown Fmt/Type")
    return
  end
  local mnemonic, layout, header_size, has_data = kind[1], kind[2], kind[3], kind[4]
  t:append_text(": " .. mnemonic)
  pinfo.cols.info = mnemonic
  if tvb:len() < header_size then
    t:add_proto_expert_info(E.malformed, "Shorter than its header")
    return
  end
  add_layout(t, tvb, 0, layout)
  local pos = header_size
  if has_data then
    local dws = value(tvb, 0, BY.tlp_dw0.length)
    if dws == 0 then dws = 1024 end
    local have = math.min(dws * 4, tvb:len() - pos)
    if have > 0 then t:add(PF["oisa_tlp.data"], tvb(pos, have)) end
    pos = pos + have
    pinfo.cols.info = string.format("%s, %d bytes", mnemonic, dws * 4)
  end
  if value(tvb, 0, BY.tlp_dw0.td) == 1 and tvb:len() >= pos + C.TLP_DIGEST_SIZE then
    t:add_le(PF["oisa_tlp.ecrc"], tvb(pos, C.TLP_DIGEST_SIZE))
  end
end

function oisa_cxl.dissector(tvb, pinfo, tree)
  pinfo.cols.protocol = "CXL.mem"
  set_ends(pinfo)
  local t = tree:add(oisa_cxl, tvb())
  if tvb:len() < 1 then return end
  add_layout(t, tvb, 0, "cxl_class")
  local class = tvb(0, 1):uint()
  local key = C.CXL_CLASSES[class]
  if key == nil or tvb:len() < C.CXL_FRAME_SIZE[class] then
    t:add_proto_expert_info(E.malformed, "Unknown message class or short frame")
    return
  end
  add_layout(t, tvb, 0, key)
  pinfo.cols.info = name_of(VALUES.MemClass, class)
end

function oisa_vdesc.dissector(tvb, pinfo, tree)
  pinfo.cols.protocol = "Vendor"
  set_ends(pinfo)
  local t = tree:add(oisa_vdesc, tvb())
  if tvb:len() < C.VDESC_HEADER_SIZE + C.VDESC_CRC_SIZE or tvb(0, 2):le_uint() ~= C.VDESC_MAGIC then
    t:append_text(": not a VDESC descriptor (a plug-in's own format)")
    return
  end
  pinfo.cols.protocol = "VDESC"
  local V = BY.vdesc_header
  add_layout(t, tvb, 0, "vdesc_header")
  local kind, length = value(tvb, 0, V.kind), value(tvb, 0, V.length)
  local pos = C.VDESC_HEADER_SIZE
  if kind == C.VDESC_REDUCE then
    add_layout(t, tvb, pos, "vdesc_reduce")
    pos = pos + C.VDESC_REDUCE_SIZE
  end
  if C.VDESC_WITH_PAYLOAD[kind] and length > 0 then
    if tvb:len() < pos + length + C.VDESC_CRC_SIZE then
      t:add_proto_expert_info(E.malformed, "Shorter than its length says")
      return
    end
    t:add(PF["oisa_vdesc.payload"], tvb(pos, length))
    pos = pos + length
  end
  add_crc(t, tvb, pos, crc(CRC32C, tvb, pos), true, PF["oisa_vdesc.crc"], PF["oisa_vdesc.crc.status"],
    E.vdesc_bad_crc)
  pinfo.cols.info = string.format("%s %d->%d txn %d len %d", name_of(VALUES.VdescType, kind), value(tvb, 0, V.src),
    value(tvb, 0, V.dst), value(tvb, 0, V.txn_id), length)
end

-- Registration: by link type, so captures decode without any preference set ----------------------------

local encaps = wtap_encaps or wtap
local by_linktype = {["oisa-flit"] = oisa, ["pcie-tlp"] = oisa_tlp, ["cxl-mem"] = oisa_cxl,
                     ["vendor"] = oisa_vdesc, ["oisa-msg"] = oisa_msg}
local wtap_table = DissectorTable.get("wtap_encap")
for name, number in pairs(C.LINKTYPES) do
  wtap_table:add(encaps["USER" .. (number - 147)], by_linktype[name])
end
