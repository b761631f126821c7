-- Begins a shard's generation where there is none (generation-keeper.ts).
generation()
return 1
