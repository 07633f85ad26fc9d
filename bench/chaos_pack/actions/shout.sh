# parameters arrive as JSON on stdin
read -r params
echo "shouted $params"
