// .kconfig values: parsing a config text, the kernel version code, and encoding each kind of
// extern the way libbpf does (y/m/n, numbers of the declared width with a range check, strings
// into char arrays), with the errors that name the extern.
import { describe, expect, it } from 'vitest';
import { encodeKconfig, fillKconfig, kconfigValues, kernelVersionCode, parseKconfig } from '../../../host-bindings/kconfig.js';
import type { KconfigExtern, ObjectSpec } from '../../../host-bindings/object/spec.js';
import { ERRNO } from '../../../host-bindings/uapi.js';

const CONFIG = `#
# Automatically generated file; DO NOT EDIT.
CONFIG_BPF_SYSCALL=y
CONFIG_MODULE_THING=m
# CONFIG_KPROBES is not set
CONFIG_HZ=250
CONFIG_NEG=-5
CONFIG_HEX=0x7f
CONFIG_OCT=017
CONFIG_LOCALVERSION="-fc-v595"
CONFIG_LONG_STRING="0123456789abcdef0123"
CONFIG_WORD=hello
`;
const values = kconfigValues(parseKconfig(CONFIG), 'test-config');

const ext = (name: string, kind: KconfigExtern['kind'], size: number, extra: Partial<KconfigExtern> = {}): KconfigExtern => ({
  name, kind, size, offset: 0, signed: false, weak: false, ...extra,
});
const encode = (e: KconfigExtern) => encodeKconfig([e], e.size, values);
const u32 = (b: Uint8Array) => new DataView(b.buffer).getUint32(0, true);

describe('kernel config', () => {
  it('keeps CONFIG_ lines and leaves "is not set" options unset', () => {
    const parsed = parseKconfig(CONFIG);
    expect(parsed.get('CONFIG_BPF_SYSCALL')).toBe('y');
    expect(parsed.get('CONFIG_LOCALVERSION')).toBe('"-fc-v595"');
    expect(parsed.has('CONFIG_KPROBES')).toBe(false);
    expect(parsed.size).toBe(9);
  });

  it('computes KERNEL_VERSION(a, b, c) from a release, c capped at 255', () => {
    expect(kernelVersionCode('6.18.44-fc-v595')).toBe(0x06122c);
    expect(kernelVersionCode('5.4.300')).toBe(0x0504ff);
    expect(kernelVersionCode('6.1')).toBe(0x060100);
    expect(() => kernelVersionCode('unknown')).toThrow(/release "unknown"/);
  });
});

describe('encoding .kconfig values', () => {
  it('y/m/n into bool, tristate (NO=0 YES=1 MODULE=2) and char', () => {
    expect(encode(ext('CONFIG_BPF_SYSCALL', 'bool', 1))).toEqual(new Uint8Array([1]));
    expect(u32(encode(ext('CONFIG_BPF_SYSCALL', 'tristate', 4)))).toBe(1);
    expect(u32(encode(ext('CONFIG_MODULE_THING', 'tristate', 4)))).toBe(2);
    expect(encode(ext('CONFIG_MODULE_THING', 'char', 1))).toEqual(new Uint8Array([0x6d]));
    expect(() => encode(ext('CONFIG_MODULE_THING', 'bool', 1))).toThrow('kconfig extern "CONFIG_MODULE_THING": value m (module) needs a tristate or char extern, not a bool');
    expect(() => encode(ext('CONFIG_BPF_SYSCALL', 'int', 4))).toThrow(/value y needs a bool, tristate or char extern, not a int/);
  });

  it('numbers (decimal, hex, octal, negative) into the declared width, range-checked', () => {
    expect(u32(encode(ext('CONFIG_HZ', 'int', 4, { signed: true })))).toBe(250);
    expect(encode(ext('CONFIG_HZ', 'int', 2))).toEqual(new Uint8Array([250, 0]));
    expect(new DataView(encode(ext('CONFIG_NEG', 'int', 8, { signed: true })).buffer).getBigInt64(0, true)).toBe(-5n);
    expect(encode(ext('CONFIG_NEG', 'int', 2, { signed: true }))).toEqual(new Uint8Array([0xfb, 0xff]));
    expect(encode(ext('CONFIG_HEX', 'char', 1))).toEqual(new Uint8Array([0x7f]));
    expect(u32(encode(ext('CONFIG_OCT', 'int', 4)))).toBe(15);
    expect(() => encode(ext('CONFIG_HZ', 'char', 1, { signed: true }))).toThrow(
      expect.objectContaining({ message: 'kconfig extern "CONFIG_HZ": value 250 does not fit in 1 byte (signed)', errno: ERRNO.ERANGE }),
    );
    expect(() => encode(ext('CONFIG_NEG', 'int', 4))).toThrow(/value -5 does not fit in 4 bytes \(unsigned\)/);
    expect(() => encode(ext('CONFIG_HZ', 'bool', 1))).toThrow(/value 250 is not a bool/);
    expect(() => encode(ext('CONFIG_HZ', 'char-array', 8))).toThrow(/value 250 is a number, but the extern is a char-array/);
  });

  it('strings into char arrays, cut to keep the NUL', () => {
    expect(Buffer.from(encode(ext('CONFIG_LOCALVERSION', 'char-array', 12))).toString('latin1')).toBe('-fc-v595\0\0\0\0');
    expect(Buffer.from(encode(ext('CONFIG_LONG_STRING', 'char-array', 8))).toString('latin1')).toBe('0123456\0');
    expect(() => encode(ext('CONFIG_LOCALVERSION', 'int', 4))).toThrow(/value "-fc-v595" is a string, but the extern is a int/);
    expect(() => encode(ext('CONFIG_WORD', 'char-array', 8))).toThrow(/value hello is neither y\/m\/n, a number nor a quoted string/);
  });

  it('each at its offset; a missing weak one stays zero, a missing strong one is an error naming it', () => {
    const blob = encodeKconfig(
      [ext('CONFIG_HZ', 'int', 4, { offset: 4 }), ext('CONFIG_NOPE', 'int', 4, { weak: true }), ext('CONFIG_BPF_SYSCALL', 'bool', 1, { offset: 8 })],
      9,
      values,
    );
    expect([...blob]).toEqual([0, 0, 0, 0, 250, 0, 0, 0, 1]);
    expect(() => encode(ext('CONFIG_KPROBES', 'bool', 1))).toThrow(
      expect.objectContaining({ message: 'kconfig extern "CONFIG_KPROBES": not set in test-config', errno: ERRNO.ESRCH }),
    );
    expect(() => encode(ext('LINUX_NEW_THING', 'int', 4))).toThrow(/"LINUX_NEW_THING": not a value wbpf provides \(it knows LINUX_KERNEL_VERSION/);
    expect(() => encodeKconfig([ext('CONFIG_HZ', 'int', 4, { offset: 4 })], 6, values)).toThrow(/bytes 4..8 are outside the 6-byte .kconfig map/);
  });

  it('fillKconfig writes the .kconfig map of a spec and leaves a spec without externs alone', () => {
    const spec: ObjectSpec = {
      littleEndian: true, license: 'GPL', kernelVersion: 0, programs: [],
      maps: [{ name: '.kconfig', type: 2, keySize: 4, valueSize: 4, maxEntries: 1, flags: 0, btfKeyTypeId: 0, btfValueTypeId: 0,
        globalData: { section: '.kconfig', initial: new Uint8Array(4), readOnly: true } }],
      kconfig: [ext('CONFIG_HZ', 'int', 4)],
    };
    fillKconfig(spec, { values });
    expect(u32(spec.maps[0]!.globalData!.initial)).toBe(250);
    const none: ObjectSpec = { ...spec, kconfig: undefined, maps: [] };
    expect(() => fillKconfig(none, { values })).not.toThrow();
    expect(() => fillKconfig({ ...spec, maps: [] }, { values, objectName: 'x.o' })).toThrow('object x.o has kconfig externs but no ".kconfig" map to hold them');
  });
});
