// V8 flags the region process runs with. A full DescribeInstances answer over 1,000
// instances builds about 1.5 MB of XML from ~100,000 short strings; with V8's default
// 16 MiB semi-space most of that time is young-generation GC (76 % in a profile). A 64 MiB
// semi-space cut the render from ~63 ms to ~17 ms median on these machines. The flag only
// works at process start (v8.setFlagsFromString is too late), so `npm start`, the `nitride`
// bin and the API bench pass it on the command line.
export const REGION_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];
