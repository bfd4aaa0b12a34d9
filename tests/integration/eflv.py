#!/usr/bin/env python3
"""HEVC Annex B elementary stream -> Enhanced RTMP FLV, for rtmpd's tests.

ffmpeg 5.1 (Debian 12) neither writes nor reads Enhanced RTMP, so the tests
make their own E-RTMP FLV from an ffmpeg-made HEVC elementary stream:

- the stream is split into NAL units at start codes and into access units
  at access unit delimiters (AUD, NAL type 35);
- the HEVCDecoderConfigurationRecord ('hvcC', ISO/IEC 14496-15 8.3.3.1) is
  built from the first VPS, SPS and PPS (NAL types 32, 33, 34). Its fields
  are parsed out of them (RBSP with emulation prevention bytes removed,
  exp-Golomb codes) the way FFmpeg's own hvcC writer derives them, so the
  record can be compared with the one `ffmpeg -c copy -tag:v hvc1 x.mp4`
  writes (see hvcc_from_mp4 and parse_hvcc);
- each access unit becomes one video tag: ExHeader bit 0x80, frame type 1
  (key: the AU holds an IRAP picture, NAL types 16..23) or 2 (inter),
  VideoPacketType CodedFrames (1), FourCC 'hvc1', SI24 composition time 0
  and the AU's NAL units with 4-byte big-endian length prefixes. AUDs and
  parameter sets are left out of the frames (they are in the hvcC, as an
  'hvc1' track requires); SEI and slices stay. Timestamps are
  round(i * 1000 / fps) ms (no B-frames, so PTS = DTS);
- before the first frame: onMetaData (videocodecid is the FourCC as a
  number, as E-RTMP specifies) and the SequenceStart tag (VideoPacketType
  0, key frame type, FourCC 'hvc1', the hvcC).

Command line: eflv.py IN.hevc OUT.flv [--fps 30] [--verify]
"""

import hashlib
import os
import struct
import subprocess
import sys
import tempfile

NAL_VPS, NAL_SPS, NAL_PPS, NAL_AUD = 32, 33, 34, 35
FOURCC_HVC1 = b"hvc1"

# E-RTMP video: ExHeader bit, frame types, packet types.
EX_HEADER = 0x80
FRAME_KEY, FRAME_INTER = 1, 2
PKT_SEQUENCE_START, PKT_CODED_FRAMES = 0, 1


# ---------------------------------------------------------------------------
# NAL units

def split_nals(data):
    """The NAL units of an Annex B byte stream, start codes removed.

    A NAL unit ends where the next start code (00 00 01) begins; the zero
    bytes before it (the fourth byte of a 4-byte start code, trailing_zero_8bits)
    are not part of it.
    """
    starts = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i + 3)
        i = data.find(b"\x00\x00\x01", i + 3)
    nals = []
    for k, s in enumerate(starts):
        e = starts[k + 1] - 3 if k + 1 < len(starts) else len(data)
        while e > s and data[e - 1] == 0:
            e -= 1
        if e > s:
            nals.append(bytes(data[s:e]))
    return nals


def nal_type(nal):
    return (nal[0] >> 1) & 0x3F


def is_irap(nal):
    return 16 <= nal_type(nal) <= 23


def is_vcl(nal):
    return nal_type(nal) < 32


def access_units(nals):
    """Groups NAL units into access units; an AUD starts a new one."""
    aus = []
    cur = []
    for nal in nals:
        if nal_type(nal) == NAL_AUD and cur:
            aus.append(cur)
            cur = []
        cur.append(nal)
    if cur:
        aus.append(cur)
    return aus


def rbsp(nal):
    """The RBSP of a NAL unit: header dropped, emulation prevention bytes
    (the 03 of 00 00 03) removed."""
    out = bytearray()
    zeros = 0
    for b in nal[2:]:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


class BitReader:
    """MSB-first bit reader with exp-Golomb codes (H.265 7.2, 9.2)."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def u(self, n):
        v = 0
        for _ in range(n):
            byte = self.pos >> 3
            if byte >= len(self.data):
                raise ValueError("bitstream truncated")
            v = (v << 1) | ((self.data[byte] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def flag(self):
        return self.u(1)

    def ue(self):
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("exp-Golomb code too long")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self):
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)

    def skip(self, n):
        self.u(n)


# ---------------------------------------------------------------------------
# Parameter sets (H.265 7.3.2 and 7.3.3)

def parse_profile_tier_level(r, max_sub_layers_minus1):
    ptl = {
        "general_profile_space": r.u(2),
        "general_tier_flag": r.u(1),
        "general_profile_idc": r.u(5),
        "general_profile_compatibility_flags": r.u(32),
        # progressive, interlaced, non_packed, frame_only + 43 + 1 bits
        "general_constraint_indicator_flags": r.u(48),
        "general_level_idc": r.u(8),
    }
    profile_present, level_present = [], []
    for _ in range(max_sub_layers_minus1):
        profile_present.append(r.flag())
        level_present.append(r.flag())
    if max_sub_layers_minus1 > 0:
        for _ in range(max_sub_layers_minus1, 8):
            r.skip(2)  # reserved_zero_2bits
    for i in range(max_sub_layers_minus1):
        if profile_present[i]:
            r.skip(88)  # sub_layer profile_space .. inbld/reserved
        if level_present[i]:
            r.skip(8)   # sub_layer_level_idc
    return ptl


def parse_vps(nal):
    r = BitReader(rbsp(nal))
    vps = {"id": r.u(4)}
    r.skip(2)  # vps_base_layer_internal_flag, vps_base_layer_available_flag
    vps["max_layers_minus1"] = r.u(6)
    vps["max_sub_layers_minus1"] = r.u(3)
    vps["temporal_id_nesting_flag"] = r.flag()
    r.skip(16)  # vps_reserved_0xffff_16bits
    vps["ptl"] = parse_profile_tier_level(r, vps["max_sub_layers_minus1"])
    return vps


def _scaling_list_data(r):
    for size_id in range(4):
        for _ in range(0, 6, 3 if size_id == 3 else 1):
            if not r.flag():          # scaling_list_pred_mode_flag
                r.ue()                # scaling_list_pred_matrix_id_delta
            else:
                coef_num = min(64, 1 << (4 + (size_id << 1)))
                if size_id > 1:
                    r.se()            # scaling_list_dc_coef_minus8
                for _ in range(coef_num):
                    r.se()            # scaling_list_delta_coef


def _st_ref_pic_set(r, idx, num_sets, num_delta_pocs):
    """Parses st_ref_pic_set(idx); returns its NumDeltaPocs."""
    inter = r.flag() if idx != 0 else 0
    if inter:
        delta_idx_minus1 = r.ue() if idx == num_sets else 0
        r.flag()   # delta_rps_sign
        r.ue()     # abs_delta_rps_minus1
        ref = idx - (delta_idx_minus1 + 1)
        n = 0
        for _ in range(num_delta_pocs[ref] + 1):
            used = r.flag()
            use_delta = r.flag() if not used else 1
            if used or use_delta:
                n += 1
        return n
    neg = r.ue()
    pos = r.ue()
    if neg > 16 or pos > 16:
        raise ValueError("bad st_ref_pic_set")
    for _ in range(neg + pos):
        r.ue()     # delta_poc_sX_minus1
        r.flag()   # used_by_curr_pic_sX_flag
    return neg + pos


def _sub_layer_hrd(r, cpb_cnt, sub_pic):
    for _ in range(cpb_cnt + 1):
        r.ue()   # bit_rate_value_minus1
        r.ue()   # cpb_size_value_minus1
        if sub_pic:
            r.ue()   # cpb_size_du_value_minus1
            r.ue()   # bit_rate_du_value_minus1
        r.flag()     # cbr_flag


def _hrd_parameters(r, common, max_sub_layers_minus1):
    nal = vcl = sub_pic = 0
    if common:
        nal = r.flag()
        vcl = r.flag()
        if nal or vcl:
            sub_pic = r.flag()
            if sub_pic:
                r.skip(8 + 5 + 1 + 5)
            r.skip(4 + 4)      # bit_rate_scale, cpb_size_scale
            if sub_pic:
                r.skip(4)      # cpb_size_du_scale
            r.skip(5 + 5 + 5)  # initial_cpb_removal_delay_length_minus1 ...
    for _ in range(max_sub_layers_minus1 + 1):
        fixed_general = r.flag()
        fixed_within_cvs = 1 if fixed_general else r.flag()
        low_delay = 0
        if fixed_within_cvs:
            r.ue()             # elemental_duration_in_tc_minus1
        else:
            low_delay = r.flag()
        cpb_cnt = 0 if low_delay else r.ue()
        if nal:
            _sub_layer_hrd(r, cpb_cnt, sub_pic)
        if vcl:
            _sub_layer_hrd(r, cpb_cnt, sub_pic)


def _vui(r, sps):
    """Parses vui_parameters() far enough for min_spatial_segmentation_idc."""
    if r.flag():                     # aspect_ratio_info_present_flag
        if r.u(8) == 255:            # aspect_ratio_idc == EXTENDED_SAR
            r.skip(32)
    if r.flag():                     # overscan_info_present_flag
        r.flag()
    if r.flag():                     # video_signal_type_present_flag
        r.skip(3 + 1)
        if r.flag():                 # colour_description_present_flag
            r.skip(24)
    if r.flag():                     # chroma_loc_info_present_flag
        r.ue()
        r.ue()
    r.skip(3)  # neutral_chroma_indication, field_seq, frame_field_info_present
    if r.flag():                     # default_display_window_flag
        for _ in range(4):
            r.ue()
    if r.flag():                     # vui_timing_info_present_flag
        r.skip(64)                   # num_units_in_tick, time_scale
        if r.flag():                 # vui_poc_proportional_to_timing_flag
            r.ue()
        if r.flag():                 # vui_hrd_parameters_present_flag
            _hrd_parameters(r, 1, sps["max_sub_layers_minus1"])
    if r.flag():                     # bitstream_restriction_flag
        r.skip(3)  # tiles_fixed_structure, mvs_over_pic_boundaries, restricted_ref_pic_lists
        sps["min_spatial_segmentation_idc"] = r.ue()


def parse_sps(nal):
    r = BitReader(rbsp(nal))
    sps = {"vps_id": r.u(4), "max_sub_layers_minus1": r.u(3),
           "temporal_id_nesting_flag": r.flag()}
    sps["ptl"] = parse_profile_tier_level(r, sps["max_sub_layers_minus1"])
    sps["id"] = r.ue()
    sps["chroma_format_idc"] = r.ue()
    if sps["chroma_format_idc"] == 3:
        r.flag()                     # separate_colour_plane_flag
    sps["width"] = r.ue()
    sps["height"] = r.ue()
    crop = [0, 0, 0, 0]
    if r.flag():                     # conformance_window_flag
        crop = [r.ue() for _ in range(4)]
    sub_w = 2 if sps["chroma_format_idc"] in (1, 2) else 1
    sub_h = 2 if sps["chroma_format_idc"] == 1 else 1
    sps["display_width"] = sps["width"] - sub_w * (crop[0] + crop[1])
    sps["display_height"] = sps["height"] - sub_h * (crop[2] + crop[3])
    sps["bit_depth_luma_minus8"] = r.ue()
    sps["bit_depth_chroma_minus8"] = r.ue()
    log2_max_poc_lsb = r.ue() + 4
    ordering_all = r.flag()          # sps_sub_layer_ordering_info_present_flag
    first = 0 if ordering_all else sps["max_sub_layers_minus1"]
    for _ in range(first, sps["max_sub_layers_minus1"] + 1):
        r.ue()
        r.ue()
        r.ue()
    for _ in range(6):               # coding/transform block sizes, hierarchy depths
        r.ue()
    if r.flag():                     # scaling_list_enabled_flag
        if r.flag():                 # sps_scaling_list_data_present_flag
            _scaling_list_data(r)
    r.skip(2)                        # amp_enabled_flag, sample_adaptive_offset_enabled_flag
    if r.flag():                     # pcm_enabled_flag
        r.skip(4 + 4)
        r.ue()
        r.ue()
        r.flag()
    num_sets = r.ue()
    if num_sets > 64:
        raise ValueError("bad num_short_term_ref_pic_sets")
    num_delta_pocs = []
    for i in range(num_sets):
        num_delta_pocs.append(_st_ref_pic_set(r, i, num_sets, num_delta_pocs))
    if r.flag():                     # long_term_ref_pics_present_flag
        for _ in range(r.ue()):
            r.skip(log2_max_poc_lsb + 1)
    r.skip(2)  # sps_temporal_mvp_enabled_flag, strong_intra_smoothing_enabled_flag
    sps["min_spatial_segmentation_idc"] = 0
    if r.flag():                     # vui_parameters_present_flag
        _vui(r, sps)
    # Check that the parse stayed aligned: without extensions, what is left
    # must be exactly rbsp_trailing_bits (a one bit, then zero bits).
    if not r.flag():                 # sps_extension_present_flag
        rest = [r.u(1) for _ in range(len(r.data) * 8 - r.pos)]
        if not rest or rest[0] != 1 or any(rest[1:]):
            raise ValueError("SPS parse misaligned: trailing bits %r" % rest[:16])
    return sps


def parse_pps(nal):
    r = BitReader(rbsp(nal))
    pps = {"id": r.ue(), "sps_id": r.ue()}
    r.skip(1 + 1 + 3 + 1 + 1)  # dependent_slice_segments .. cabac_init_present
    r.ue()
    r.ue()                     # num_ref_idx_l0/l1_default_active_minus1
    r.se()                     # init_qp_minus26
    r.skip(2)                  # constrained_intra_pred, transform_skip_enabled
    if r.flag():               # cu_qp_delta_enabled_flag
        r.ue()
    r.se()
    r.se()                     # pps_cb_qp_offset, pps_cr_qp_offset
    r.skip(4)  # slice_chroma_qp_offsets_present, weighted_pred, weighted_bipred, transquant_bypass
    pps["tiles_enabled_flag"] = r.flag()
    pps["entropy_coding_sync_enabled_flag"] = r.flag()
    return pps


# ---------------------------------------------------------------------------
# hvcC

def build_hvcc(vps_nal, sps_nal, pps_nal):
    """The HEVCDecoderConfigurationRecord for one VPS, SPS and PPS.

    Profile, tier, level and the flags come from the SPS's profile_tier_level,
    chroma format and bit depths from the SPS. As FFmpeg does:
    numTemporalLayers is the larger of the VPS's and SPS's sub-layer counts,
    temporalIdNested the SPS's flag, parallelismType 0 unless the VUI gives a
    min_spatial_segmentation_idc (then from the PPS), avgFrameRate and
    constantFrameRate 0, 4-byte NAL lengths, arrays complete (the 'hvc1'
    rule: parameter sets only here).
    """
    vps, sps, pps = parse_vps(vps_nal), parse_sps(sps_nal), parse_pps(pps_nal)
    ptl = sps["ptl"]
    seg = sps["min_spatial_segmentation_idc"]
    if not seg:
        parallelism = 0
    elif pps["entropy_coding_sync_enabled_flag"] and pps["tiles_enabled_flag"]:
        parallelism = 0
    elif pps["entropy_coding_sync_enabled_flag"]:
        parallelism = 3
    elif pps["tiles_enabled_flag"]:
        parallelism = 2
    else:
        parallelism = 1
    temporal_layers = max(vps["max_sub_layers_minus1"], sps["max_sub_layers_minus1"]) + 1
    out = bytearray()
    out.append(1)  # configurationVersion
    out.append(ptl["general_profile_space"] << 6 | ptl["general_tier_flag"] << 5 |
               ptl["general_profile_idc"])
    out += struct.pack(">I", ptl["general_profile_compatibility_flags"])
    out += ptl["general_constraint_indicator_flags"].to_bytes(6, "big")
    out.append(ptl["general_level_idc"])
    out += struct.pack(">H", 0xF000 | seg)
    out.append(0xFC | parallelism)
    out.append(0xFC | sps["chroma_format_idc"])
    out.append(0xF8 | sps["bit_depth_luma_minus8"])
    out.append(0xF8 | sps["bit_depth_chroma_minus8"])
    out += struct.pack(">H", 0)  # avgFrameRate
    out.append(0 << 6 | temporal_layers << 3 | sps["temporal_id_nesting_flag"] << 2 | 3)
    arrays = [(NAL_VPS, vps_nal), (NAL_SPS, sps_nal), (NAL_PPS, pps_nal)]
    out.append(len(arrays))
    for t, nal in arrays:
        out.append(0x80 | t)  # array_completeness 1, reserved 0, NAL_unit_type
        out += struct.pack(">HH", 1, len(nal)) + nal
    return bytes(out)


def parse_hvcc(b):
    """Fields of an hvcC record (for comparisons), arrays as (completeness,
    type, [nal units])."""
    r = BitReader(b)
    f = {
        "configurationVersion": r.u(8),
        "general_profile_space": r.u(2),
        "general_tier_flag": r.u(1),
        "general_profile_idc": r.u(5),
        "general_profile_compatibility_flags": r.u(32),
        "general_constraint_indicator_flags": r.u(48),
        "general_level_idc": r.u(8),
    }
    r.skip(4)
    f["min_spatial_segmentation_idc"] = r.u(12)
    r.skip(6)
    f["parallelismType"] = r.u(2)
    r.skip(6)
    f["chromaFormat"] = r.u(2)
    r.skip(5)
    f["bitDepthLumaMinus8"] = r.u(3)
    r.skip(5)
    f["bitDepthChromaMinus8"] = r.u(3)
    f["avgFrameRate"] = r.u(16)
    f["constantFrameRate"] = r.u(2)
    f["numTemporalLayers"] = r.u(3)
    f["temporalIdNested"] = r.u(1)
    f["lengthSizeMinusOne"] = r.u(2)
    n = r.u(8)
    i = r.pos // 8
    arrays = []
    for _ in range(n):
        comp, t = b[i] >> 7, b[i] & 0x3F
        count = struct.unpack(">H", b[i + 1:i + 3])[0]
        i += 3
        nals = []
        for _ in range(count):
            ln = struct.unpack(">H", b[i:i + 2])[0]
            nals.append(bytes(b[i + 2:i + 2 + ln]))
            i += 2 + ln
        arrays.append((comp, t, nals))
    f["arrays"] = arrays
    if i != len(b):
        raise ValueError("hvcC: %d trailing bytes" % (len(b) - i))
    return f


def _boxes(data, start, end):
    """(type, payload start, payload end) of the ISO BMFF boxes in data[start:end]."""
    i = start
    while i + 8 <= end:
        size, kind = struct.unpack(">I4s", data[i:i + 8])
        hdr = 8
        if size == 1:
            size, hdr = struct.unpack(">Q", data[i + 8:i + 16])[0], 16
        elif size == 0:
            size = end - i
        if size < hdr or i + size > end:
            raise ValueError("bad MP4 box at %d" % i)
        yield kind, i + hdr, i + size
        i += size


def hvcc_from_mp4(path):
    """The payload of the hvcC box of the first HEVC track of an MP4 file
    (moov/trak/mdia/minf/stbl/stsd/hvc1|hev1/hvcC)."""
    with open(path, "rb") as fh:
        data = fh.read()
    # Bytes to skip at the start of a box's payload before its child boxes.
    containers = {b"moov": 0, b"trak": 0, b"mdia": 0, b"minf": 0, b"stbl": 0,
                  b"stsd": 8, b"hvc1": 78, b"hev1": 78}

    def walk(start, end):
        for kind, s, e in _boxes(data, start, end):
            if kind == b"hvcC":
                return data[s:e]
            if kind in containers:
                found = walk(s + containers[kind], e)
                if found is not None:
                    return found
        return None

    found = walk(0, len(data))
    if found is None:
        raise ValueError("%s: no hvcC box" % path)
    return found


# ---------------------------------------------------------------------------
# FLV

def amf0_metadata(obj):
    out = b"\x02\x00\x0aonMetaData" + b"\x08" + struct.pack(">I", len(obj))
    for k, v in obj.items():
        out += struct.pack(">H", len(k)) + k.encode() + b"\x00" + struct.pack(">d", float(v))
    return out + b"\x00\x00\x09"


def flv_tag(tag_type, ts, body):
    ts &= 0xFFFFFFFF
    hdr = bytes([tag_type]) + len(body).to_bytes(3, "big") + (ts & 0xFFFFFF).to_bytes(3, "big")
    hdr += bytes([ts >> 24]) + b"\x00\x00\x00"
    return hdr + body + struct.pack(">I", 11 + len(body))


def sequence_start(hvcc):
    return bytes([EX_HEADER | FRAME_KEY << 4 | PKT_SEQUENCE_START]) + FOURCC_HVC1 + hvcc


def coded_frames(au, key):
    body = bytearray([EX_HEADER | (FRAME_KEY if key else FRAME_INTER) << 4 | PKT_CODED_FRAMES])
    body += FOURCC_HVC1 + b"\x00\x00\x00"  # SI24 composition time offset 0
    for nal in au:
        if nal_type(nal) in (NAL_AUD, NAL_VPS, NAL_SPS, NAL_PPS):
            continue
        body += struct.pack(">I", len(nal)) + nal
    return bytes(body)


def convert(annexb, fps=30):
    """Converts an HEVC Annex B byte string; returns (flv bytes, info).

    info: hvcc, sps (parsed), frames = [(ts, key, payload)] in order, the
    video tag bodies exactly as written (SequenceStart not included).
    """
    nals = split_nals(annexb)
    first = {}
    for nal in nals:
        t = nal_type(nal)
        if t in (NAL_VPS, NAL_SPS, NAL_PPS) and t not in first:
            first[t] = nal
    missing = [n for t, n in ((NAL_VPS, "VPS"), (NAL_SPS, "SPS"), (NAL_PPS, "PPS")) if t not in first]
    if missing:
        raise ValueError("no %s in the elementary stream (a hevc_360p.hevc cached by the "
                         "old recipe with repeat-headers=0 has none: delete it to re-encode)" %
                         "/".join(missing))
    hvcc = build_hvcc(first[NAL_VPS], first[NAL_SPS], first[NAL_PPS])
    sps = parse_sps(first[NAL_SPS])
    frames = []
    for au in access_units(nals):
        if not any(is_vcl(n) for n in au):
            continue
        ts = int(round(len(frames) * 1000.0 / fps))
        key = any(is_irap(n) for n in au)
        frames.append((ts, key, coded_frames(au, key)))
    meta = {"duration": len(frames) / float(fps), "width": sps["display_width"],
            "height": sps["display_height"], "framerate": fps,
            "videocodecid": struct.unpack(">I", FOURCC_HVC1)[0]}
    out = bytearray(b"FLV\x01\x01\x00\x00\x00\x09\x00\x00\x00\x00")  # video only
    out += flv_tag(18, 0, amf0_metadata(meta))
    out += flv_tag(9, 0, sequence_start(hvcc))
    for ts, key, body in frames:
        out += flv_tag(9, ts, body)
    return bytes(out), {"hvcc": hvcc, "sps": sps, "frames": frames}


def convert_file(src, dst, fps=30):
    with open(src, "rb") as f:
        flv, info = convert(f.read(), fps)
    tmp = dst + ".tmp"
    with open(tmp, "wb") as f:
        f.write(flv)
    os.rename(tmp, dst)
    return info


def annexb_from_eflv(path):
    """Rebuilds an Annex B stream from an E-RTMP hvc1 FLV (parameter sets
    from the SequenceStart's hvcC, then each frame's NAL units), so that
    ffmpeg 5.1, which cannot read E-RTMP FLV, can decode what we wrote."""
    with open(path, "rb") as f:
        data = f.read()
    off = struct.unpack(">I", data[5:9])[0] + 4
    out = bytearray()
    while off + 11 <= len(data):
        t = data[off] & 0x1F
        n = int.from_bytes(data[off + 1:off + 4], "big")
        body = data[off + 11:off + 11 + n]
        off += 11 + n + 4
        if t != 9:
            continue
        if not body[0] & EX_HEADER or body[1:5] != FOURCC_HVC1:
            raise ValueError("not an E-RTMP hvc1 video tag")
        pkt = body[0] & 0x0F
        if pkt == PKT_SEQUENCE_START:
            for _, _, nals in parse_hvcc(body[5:])["arrays"]:
                for nal in nals:
                    out += b"\x00\x00\x00\x01" + nal
        elif pkt == PKT_CODED_FRAMES:
            i = 8
            while i < len(body):
                ln = struct.unpack(">I", body[i:i + 4])[0]
                out += b"\x00\x00\x00\x01" + body[i + 4:i + 4 + ln]
                i += 4 + ln
    return bytes(out)


def _video_md5s(path, fmt="hevc"):
    r = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-f", fmt,
                        "-i", path, "-f", "framemd5", "-"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    if r.returncode != 0 or r.stderr.strip():
        raise ValueError("ffmpeg failed to decode %s: %s" % (path, r.stderr[-500:]))
    return [l.split(",")[5].strip() for l in r.stdout.splitlines()
            if l.strip() and not l.startswith("#")]


def verify(src, flv):
    """Checks a converted file against its source with ffmpeg; returns a
    list of (what, ok, detail).

    1. The hvcC equals, field by field and byte for byte, the one FFmpeg
       writes for the same stream in an 'hvc1' MP4 track.
    2. The frames decode: Annex B rebuilt from the FLV (hvcC parameter sets
       + each frame's NAL units) decodes to the same pictures, frame for
       frame (framemd5), as the source elementary stream.
    """
    results = []
    with open(src, "rb") as f:
        _, info = convert(f.read())
    with tempfile.TemporaryDirectory(prefix="eflv-") as d:
        mp4 = os.path.join(d, "x.mp4")
        subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                        "-i", src, "-c", "copy", "-tag:v", "hvc1", mp4], check=True, timeout=120)
        theirs = hvcc_from_mp4(mp4)
        ours = info["hvcc"]
        f_ours, f_theirs = parse_hvcc(ours), parse_hvcc(theirs)
        diff = [k for k in f_theirs if f_ours.get(k) != f_theirs[k]]
        results.append(("hvcC fields equal ffmpeg's", not diff,
                        "differing: %s" % ", ".join("%s ours=%r ffmpeg=%r" %
                                                    (k, f_ours.get(k), f_theirs[k]) for k in diff)
                        if diff else "%d fields" % len(f_theirs)))
        results.append(("hvcC bytes equal ffmpeg's", ours == theirs,
                        "%d bytes, sha1 %s" % (len(ours), hashlib.sha1(ours).hexdigest()[:12])))
        rebuilt = os.path.join(d, "rebuilt.hevc")
        with open(rebuilt, "wb") as f:
            f.write(annexb_from_eflv(flv))
        a, b = _video_md5s(src), _video_md5s(rebuilt)
        results.append(("FLV frames decode like the source", a == b and len(a) == len(info["frames"]),
                        "%d source pictures, %d decoded from the FLV, %d tags" %
                        (len(a), len(b), len(info["frames"]))))
    return results


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--fps", type=float, default=30)
    ap.add_argument("--verify", action="store_true")
    a = ap.parse_args(argv)
    info = convert_file(a.src, a.dst, a.fps)
    keys = sum(1 for _, k, _ in info["frames"] if k)
    print("%s: %d frames (%d key), %dx%d, hvcC %d bytes" % (
        a.dst, len(info["frames"]), keys, info["sps"]["display_width"],
        info["sps"]["display_height"], len(info["hvcc"])))
    ok = True
    if a.verify:
        for what, good, detail in verify(a.src, a.dst):
            print("%s: %s (%s)" % ("ok" if good else "FAIL", what, detail))
            ok = ok and good
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
