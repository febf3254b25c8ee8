-- Cycle through pre-built request bodies (one JSON document per line of the file in args[1]).
local bodies = {}
local i = 0

init = function(args)
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = line
  end
  i = math.random(#bodies)
end

request = function()
  i = i % #bodies + 1
  return wrk.format("POST", nil, nil, bodies[i])
end
