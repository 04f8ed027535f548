// Package deflate decodes raw DEFLATE streams (RFC 1951) whose input
// arrives in pieces, such as the chunks of a compressed data stream, and
// encodes them with Huffman coding only, for data without repeated strings.
//
// Decoder decodes what compress/flate decodes and rejects what it rejects
// (a test compares the two on valid and damaged streams), about twice as
// fast on large streams: it reads the input eight bytes at a time from the
// piece at hand instead of one byte per interface call, and decodes each
// Huffman code with at most two table lookups. A Read returns the output
// decoded so far before it waits for more input, so a sender's flush
// reaches the reader at once.
//
// HuffmanWriter writes what compress/flate's HuffmanOnly level writes in
// substance (dynamic blocks of literals, stored blocks where coding does not
// pay) in a single pass over each block with a table lookup per byte.
package deflate
