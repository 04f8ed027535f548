// Package deflate decodes raw DEFLATE streams (RFC 1951) whose input
// arrives in pieces, such as the chunks of a compressed data stream.
//
// Decoder decodes what compress/flate decodes and rejects what it rejects
// (a test compares the two on valid and damaged streams), about twice as
// fast on large streams: it reads the input eight bytes at a time from the
// piece at hand instead of one byte per interface call, and decodes each
// Huffman code with at most two table lookups. A Read returns the output
// decoded so far before it waits for more input, so a sender's flush
// reaches the reader at once.
package deflate
